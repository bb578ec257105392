// The relay's attachment limits as the client reads them (`blob.limits`, docs/protocol.md §9a),
// and what a blob would count against the account's quota, on the relay's own terms as it
// reports them: max(sealed size, minChargeBytes) + recipientChargeBytes per recipient named.
// The upload (main/net/attachments.ts uploadFrom) refuses a file that does not fit before it
// creates a blob, saying how much of the charge is the recipients'.
import { CodedError } from '../../shared/errors.ts';
import type { RelayResult } from '../../shared/protocol/methods.ts';

/** What this module asks of the relay connection (main/net/attachments.ts BlobCaller has it). */
interface LimitsCaller {
  call(method: 'blob.limits', params: null): Promise<RelayResult<'blob.limits'>>;
}

export interface BlobCharge {
  /** What any blob counts at least (one sealed chunk). */
  minBytes: number;
  /** What each recipient a blob names counts beside its size, until that recipient's done. */
  perRecipientBytes: number;
}

export interface BlobLimits {
  maxFileBytes: number;
  quotaBytes: number;
  usedBytes: number;
  ttlMs: number;
  /** undefined: a relay from before stop 23, which charges but does not say how. */
  charge: BlobCharge | undefined;
}

/** The relay's answer, typed; the charge only when the relay stated both of its terms. */
export function blobLimitsOf(r: RelayResult<'blob.limits'>): BlobLimits {
  const charge = r.minChargeBytes !== undefined && r.recipientChargeBytes !== undefined
    ? { minBytes: r.minChargeBytes, perRecipientBytes: r.recipientChargeBytes }
    : undefined;
  return { maxFileBytes: r.maxFileBytes, quotaBytes: r.quotaBytes, usedBytes: r.usedBytes, ttlMs: r.ttlMs, charge };
}

export async function readBlobLimits(relay: LimitsCaller): Promise<BlobLimits> {
  return blobLimitsOf(await relay.call('blob.limits', null));
}

/** What a blob of `sealedSize` bytes naming `recipients` would count; undefined when the relay did not say. */
export function blobChargeOf(limits: BlobLimits, sealedSize: number, recipients: number): number | undefined {
  const c = limits.charge;
  return c && Math.max(sealedSize, c.minBytes) + recipients * c.perRecipientBytes;
}

/** Whether such a blob fits what is left of the quota now; undefined when the relay did not say. */
export function blobFits(limits: BlobLimits, sealedSize: number, recipients: number): boolean | undefined {
  const charge = blobChargeOf(limits, sealedSize, recipients);
  return charge === undefined ? undefined : limits.usedBytes + charge <= limits.quotaBytes;
}

/** Why a blob does not fit: its charge, the recipients' part of it, and what is left of the quota. */
export interface QuotaShortfall {
  charge: number;
  recipientsShare: number;
  perRecipientBytes: number;
  leftBytes: number;
  quotaBytes: number;
  /** Over the whole quota: it never fits. Else it may once attachments waiting are fetched. */
  never: boolean;
}

/** The shortfall of a blob of `sealedSize` naming `recipients`; undefined when it fits or the relay did not say. */
export function quotaShortfall(limits: BlobLimits, sealedSize: number, recipients: number): QuotaShortfall | undefined {
  const charge = blobChargeOf(limits, sealedSize, recipients);
  // The fit rule lives in blobFits alone; undefined there (the relay did not say) means no shortfall either.
  if (charge === undefined || !limits.charge || blobFits(limits, sealedSize, recipients) !== false) return undefined;
  const perRecipientBytes = limits.charge.perRecipientBytes;
  return {
    charge,
    recipientsShare: recipients * perRecipientBytes,
    perRecipientBytes,
    leftBytes: Math.max(0, limits.quotaBytes - limits.usedBytes),
    quotaBytes: limits.quotaBytes,
    never: charge > limits.quotaBytes,
  };
}

/**
 * A file that does not fit what is left of the account's attachment quota now (it would once
 * recipients fetch what waits for them): a refusal to try again later, as the relay's own
 * QUOTA_EXCEEDED, with the numbers. One over the whole quota is ATTACHMENT_TOO_LARGE instead.
 */
export class AttachmentOverQuota extends CodedError<'ATTACHMENT_OVER_QUOTA'> {
  constructor(readonly shortfall: QuotaShortfall, message: string) {
    super('ATTACHMENT_OVER_QUOTA', message);
  }
}
