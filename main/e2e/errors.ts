// Moved to shared/protocol/ (the relay's prekey methods throw BadBundle too).
export * from '../../shared/protocol/e2e-errors.ts';
