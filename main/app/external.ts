// Which links may leave the app: https only, to a short list of hosts, no credentials in the
// URL. Anything else is dropped, so renderer content can never make shell.openExternal launch
// file:, smb:, custom protocol handlers or arbitrary sites.
export const EXTERNAL_HOST_ALLOWLIST: readonly string[] = ['www.gnu.org', 'github.com', 'signal.org'];

export function isAllowedExternalUrl(url: string, allowlist: readonly string[] = EXTERNAL_HOST_ALLOWLIST): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'https:' || parsed.username !== '' || parsed.password !== '' || parsed.port !== '') return false;
  return allowlist.includes(parsed.hostname);
}
