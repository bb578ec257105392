// Moved to shared/protocol/ so the relay validates uploads with the same schemas (docs/e2e.md).
export * from '../../shared/protocol/prekey-bundle.ts';
