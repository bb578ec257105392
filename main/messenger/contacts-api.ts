// The contract's contact methods: the list as stored, and adding, verifying, accepting a new
// key and naming a contact through trust (messenger/trust.ts).
import type { EphemeraApi } from '../../shared/api.ts';
import { contactView } from './contacts.ts';
import type { SessionAccess } from './session.ts';
import type { ApiCall } from './session-lifecycle.ts';
import { nicknameProblem, type Trust } from './trust.ts';

export type ContactMethods = Pick<EphemeraApi, 'contactsList' | 'contactAdd' | 'safetyNumber' | 'markVerified' | 'acceptIdentity' | 'setNickname'>;

export function contactMethods(call: ApiCall, access: Pick<SessionAccess, 'require'>, trust: Trust): ContactMethods {
  return {
    contactsList: () => call(() => access.require().vault.listContacts().map(contactView)),
    // The handle names the contact a relay refusal concerns, for its sentence.
    contactAdd: (params) => call(async () => trust.add(params.handle), { handle: params.handle }),
    safetyNumber: (params) => call(() => trust.safetyNumber(params.contactId)),
    markVerified: (params) => call(() => trust.markVerified(params.contactId, params.verified)),
    acceptIdentity: (params) => call(() => trust.acceptIdentity(params.contactId, params.safetyNumber)),
    setNickname: (params) => {
      // Refused before the call wrapper, as a malformed value (the auto-lock timer is not reset).
      const refused = nicknameProblem(params.nickname);
      if (refused) return Promise.reject(refused);
      return call(() => trust.setNickname(params.contactId, params.nickname));
    },
  };
}
