// Drafts across a lock, at the API (the browser test test/web/lock-drafts covers the page):
// a group chat has a sealed draft like a 1:1 chat (getDraft/setDraft by its conversation id), and
// lockDrafts is accepted while a lock is under way, sealed before the key is dropped, where a
// setDraft then is refused. A window that said it answers locks is waited for (bounded): the lock
// still ends when no answer comes. Real relay process and vaults on disk.
import { describe, expect, it } from 'vitest';
import { aliceAlone, messagingScene, PASSWORD } from './helpers.ts';

describe('drafts across a lock', () => {
  const scene = messagingScene('ldr', ['alice', 'bob'] as const);

  it('group drafts are sealed; the answer to a lock is sealed before the key goes; no answer does not hold the lock', { timeout: 240_000 }, async () => {
    const { alice, toBob } = await aliceAlone(scene);
    const group = await alice.m.groupCreate({ name: 'Drafts', members: ['bob'] });

    // (a) A group chat's draft, by its conversation id; no such group is refused.
    await alice.m.setDraft({ conversationId: group.conversationId, text: 'group draft' });
    expect(await alice.m.getDraft({ conversationId: group.conversationId })).toEqual({ text: 'group draft' });
    await expect(alice.m.getDraft({ conversationId: `g${'0'.repeat(32)}` })).rejects.toMatchObject({ code: 'UNKNOWN_CONVERSATION' });

    // (b) This "window" answers locks: at 'locking' it hands over its composers' text. A setDraft
    // then is refused (the lock has begun); the answer is sealed.
    await alice.m.lockDrafts({ drafts: [] });
    const refused: string[] = [];
    const off = alice.m.subscribe((e) => {
      if (e.name !== 'locking' || !e.payload.underWay) return;
      alice.m.setDraft({ conversationId: toBob, text: 'a late save' }).catch((err: { code?: string }) => refused.push(err.code ?? '?'));
      void alice.m.lockDrafts({
        drafts: [
          { conversationId: toBob, text: 'typed in the save pause' },
          { conversationId: group.conversationId, text: 'group text in the save pause' },
          // A chat gone meanwhile costs the others nothing.
          { conversationId: 'no-such-conversation', text: 'lost' },
        ],
      });
    });
    await alice.m.lock();
    off();
    expect(refused).toEqual(['VAULT_LOCKED']);
    await alice.m.unlock({ password: PASSWORD });
    expect(await alice.m.getDraft({ conversationId: toBob })).toEqual({ text: 'typed in the save pause' });
    expect(await alice.m.getDraft({ conversationId: group.conversationId })).toEqual({ text: 'group text in the save pause' });

    // A window slower to answer than the lock's own steps take here: the lock waits for it.
    const slow = alice.m.subscribe((e) => {
      if (e.name === 'locking' && e.payload.underWay) setTimeout(() => void alice.m.lockDrafts({ drafts: [{ conversationId: toBob, text: 'a slow window' }] }).catch(() => undefined), 300);
    });
    await alice.m.lock();
    slow();
    await alice.m.unlock({ password: PASSWORD });
    expect(await alice.m.getDraft({ conversationId: toBob })).toEqual({ text: 'a slow window' });

    // A window that does not answer (closed, hung): the lock waits its bound, then ends; drafts as they were.
    await alice.m.lock();
    expect(await alice.m.vaultStatus()).toMatchObject({ vault: 'locked' });
    await alice.m.unlock({ password: PASSWORD });
    expect(await alice.m.getDraft({ conversationId: toBob })).toEqual({ text: 'a slow window' });
  });
});
