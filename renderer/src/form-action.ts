// A form's one action at a time: busy while it runs (its buttons are disabled), and what it
// threw shown as a sentence.
import { useState } from 'react';
import { errorText } from './api.ts';

export interface FormAction {
  busy: boolean;
  error: string;
  setError(message: string): void;
  /** Runs `action` with `busy` set; an error it throws becomes `error`. */
  attempt(action: () => Promise<unknown>): Promise<void>;
}

export function useFormAction(): FormAction {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  async function attempt(action: () => Promise<unknown>): Promise<void> {
    setBusy(true);
    try {
      await action();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, setError, attempt };
}
