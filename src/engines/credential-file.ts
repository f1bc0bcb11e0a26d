import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Runs `fn` with a temporary file holding credentials for a tool: mode 0600 in a private
 * directory (0700), removed afterwards whatever happens. Tools read secrets from it, so they
 * reach neither a command line nor an environment.
 */
export async function withCredentialFile<T>(
  name: string,
  content: string,
  fn: (file: string) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'tenantctl-'));
  const file = join(dir, name);
  try {
    writeFileSync(file, content, { mode: 0o600 });
    return await fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
