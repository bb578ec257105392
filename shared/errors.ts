// The one base of the typed error families (vault, e2e, backup, protocol, relay, API, CLI), as
// libsignal's LibSignalError: a stable `code` that callers map (API codes, exit codes) without
// matching messages, and a type guard that narrows to a family and, when given, one code.
// No imports: shared by main, the relay, the CLI and (through shared/api.ts) the renderer.

export class CodedError<C extends string = string> extends Error {
  readonly code: C;
  constructor(code: C, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    // The concrete class (WrongPassword, BackupCorrupt, ...), as each family named its errors.
    this.name = new.target.name;
  }
}

/** The class of an error family or of one error of it (any constructor arguments). */
export type ErrorClass<E extends CodedError> = abstract new (...args: never[]) => E;

/**
 * Whether `error` is an instance of `Class` and, when `code` is given, has that code; narrows
 * to the family with the code as its literal type (`isError(e, VaultError, 'BUSY')`).
 */
export function isError<E extends CodedError, C extends E['code'] = E['code']>(
  error: unknown,
  Class: ErrorClass<E>,
  code?: C,
): error is E & { readonly code: C } {
  return error instanceof Class && (code === undefined || error.code === code);
}
