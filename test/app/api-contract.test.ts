import { describe, expect, it } from 'vitest';
import { ApiError, apiEvents, apiMethods, eventNames, methodNames, toApiErrorValue, type EphemeraApi } from '../../shared/api.ts';
import { checkEvent, createApiClient, dispatchCall, type ApiTransport } from '../../shared/api/rpc.ts';

const now = 1_700_000_000_000;
const contact = {
  id: 'c1',
  handle: 'bob',
  displayName: 'Bob',
  conversationId: 'conv1',
  verified: false,
  identityChanged: false,
  createdAt: now,
};

/** Only the methods a test touches; the others reject so an unexpected call is visible. */
function serviceWith(overrides: Partial<EphemeraApi>): EphemeraApi {
  const base: Record<string, unknown> = {};
  for (const m of methodNames) base[m] = () => Promise.reject(new ApiError('NOT_AVAILABLE', `${m} not in this test`));
  return Object.assign(base, overrides) as unknown as EphemeraApi;
}

describe('shared/api contract', () => {
  it('lists methods and events the UI needs', () => {
    for (const m of ['createVault', 'confirmRecoveryPhrase', 'unlock', 'unlockWithRecovery', 'lock', 'changePassword', 'register',
      'contactsList', 'contactAdd', 'safetyNumber', 'markVerified', 'acceptIdentity', 'conversationsList', 'historyPage',
      'sendText', 'markRead', 'search', 'settingsGet', 'settingsUpdate', 'backupExport', 'backupImport', 'backupOpen', 'backupCancel']) {
      expect(methodNames).toContain(m);
    }
    expect(eventNames).toEqual(expect.arrayContaining(['connection', 'message', 'messageState', 'backupProgress', 'vault']));
    expect(Object.keys(apiMethods).length).toBe(methodNames.length);
  });

  it('dispatchCall refuses unknown methods, prototype names and bad params without calling the service', async () => {
    let called = 0;
    const service = serviceWith({ contactAdd: async () => { called++; return contact; } });
    expect(await dispatchCall(service, 'constructor', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_METHOD' } });
    expect(await dispatchCall(service, '__proto__', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_METHOD' } });
    const bad = await dispatchCall(service, 'contactAdd', { handle: 'bob', extra: 1 });
    expect(bad).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    const badHandle = await dispatchCall(service, 'contactAdd', { handle: '<script>' });
    expect(badHandle).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    expect(called).toBe(0);
    expect(await dispatchCall(service, 'contactAdd', { handle: 'bob' })).toEqual({ ok: true, value: contact });
    expect(called).toBe(1);
  });

  it('an invalid-argument message names the field but never echoes the value (it may be a password)', async () => {
    const secret = 'hunter2-correct-horse'.repeat(60); // too long: 1260 chars > 1024
    const outcome = await dispatchCall(serviceWith({}), 'unlock', { password: secret });
    expect(outcome.ok).toBe(false);
    expect(JSON.stringify(outcome)).not.toContain('hunter2');
    expect(JSON.stringify(outcome)).toContain('password');
  });

  it('a result with an unexpected field (e.g. a key) is not sent', async () => {
    const leaky = serviceWith({
      connectionState: async () =>
        ({ phase: 'ready', cause: null, relayUrl: 'wss://r', tempKeyExpiresAt: now, outboxSize: 0, since: now, tempKey: 'AAAA' }) as never,
    });
    const outcome = await dispatchCall(leaky, 'connectionState', undefined);
    expect(outcome).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
    expect(JSON.stringify(outcome)).not.toContain('AAAA');
  });

  it('errors cross as typed values; unknown errors become INTERNAL without internals', async () => {
    const typed = serviceWith({ unlock: async () => { throw Object.assign(new Error('The password is wrong.'), { code: 'WRONG_PASSWORD' }); } });
    expect(await dispatchCall(typed, 'unlock', { password: 'x' })).toEqual({ ok: false, error: { code: 'WRONG_PASSWORD', message: 'The password is wrong.' } });
    const crash = serviceWith({ lock: async () => { throw new TypeError('cannot read property key of /home/u/secret'); } });
    const outcome = await dispatchCall(crash, 'lock', undefined);
    expect(outcome).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
    expect(JSON.stringify(outcome)).not.toContain('/home/u');
    expect(toApiErrorValue('string thrown').code).toBe('INTERNAL');
  });

  it('checkEvent accepts valid payloads only', () => {
    const state = { phase: 'rebinding', cause: 'relay_forgot_key', relayUrl: 'wss://r', tempKeyExpiresAt: null, outboxSize: 2, since: now };
    expect(checkEvent('connection', state)).toEqual({ name: 'connection', payload: state });
    expect(checkEvent('connection', { ...state, phase: 'weird' })).toBeUndefined();
    // The contract carries only what main sends: no reconnect time, no causes nothing produces.
    expect(checkEvent('connection', { ...state, nextAttemptAt: now })).toBeUndefined();
    expect(checkEvent('connection', { ...state, cause: 'scheduled_rotation' })).toBeUndefined();
    expect(checkEvent('connection', { ...state, cause: 'relay_rejected' })).toBeUndefined();
    expect(checkEvent('backupProgress', { jobId: 'job-12345', operation: 'export', phase: 'writing', done: 1, total: null, unit: 'bytes' })).toBeUndefined();
    // A backup's progress always knows its total (the file header's count comes first).
    const progress = { jobId: 'job-12345', operation: 'import', phase: 'merging', done: 1, total: 5, unit: 'messages' };
    expect(checkEvent('backupProgress', progress)).toEqual({ name: 'backupProgress', payload: progress });
    expect(checkEvent('backupProgress', { ...progress, total: null })).toBeUndefined();
    expect(checkEvent('connection', { ...state, tempKey: 'x' })).toBeUndefined();
    expect(checkEvent('toString', {})).toBeUndefined();
    expect(Object.keys(apiEvents)).toContain('connection');
  });

  it('the client validates params before sending, and results and events when they arrive', async () => {
    const sent: Array<[string, unknown]> = [];
    let emit: (name: unknown, payload: unknown) => void = () => {};
    let answer: unknown = { ok: true, value: contact };
    const transport: ApiTransport = {
      call: async (method, params) => { sent.push([method, params]); return answer; },
      subscribe: (listener) => { emit = listener; return () => {}; },
    };
    const dropped: string[] = [];
    const client = createApiClient(transport, { onInvalidEvent: (n) => dropped.push(n) });

    await expect(client.contactAdd({ handle: 'not valid!' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(sent).toEqual([]);
    await expect(client.contactAdd({ handle: 'bob' })).resolves.toEqual(contact);
    answer = { ok: true, value: { ...contact, secret: 1 } };
    await expect(client.contactAdd({ handle: 'bob' })).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
    answer = { ok: false, error: { code: 'UNKNOWN_HANDLE', message: 'Nobody called bob is on this relay.' } };
    const err = await client.contactAdd({ handle: 'bob' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'UNKNOWN_HANDLE', message: 'Nobody called bob is on this relay.' });

    const seen: unknown[] = [];
    const off = client.on('messageState', (p) => seen.push(p));
    emit('messageState', { id: 'm1', conversationId: 'c', state: 'delivered' });
    emit('messageState', { id: 'm1', conversationId: 'c', state: 'exploded' });
    emit('nonsense', {});
    off();
    emit('messageState', { id: 'm2', conversationId: 'c', state: 'read' });
    expect(seen).toEqual([{ id: 'm1', conversationId: 'c', state: 'delivered' }]);
    expect(dropped).toEqual(['messageState', 'nonsense']);
  });

  it('a transport failure becomes DISCONNECTED', async () => {
    const client = createApiClient({ call: () => Promise.reject(new Error('socket closed')), subscribe: () => () => {} });
    await expect(client.vaultStatus()).rejects.toMatchObject({ code: 'DISCONNECTED' });
  });
});
