import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { parseSecretKey } from '../../core/secrets.js';
import { withCommandContext } from '../action.js';

/** Reads a key file; an unreadable or malformed one is bad input (exit 2), never echoed. */
function readKeyFile(file: string): Buffer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--new-key-file: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseSecretKey(text);
}

export function registerRotateKey(program: Command): void {
  program
    .command('rotate-key')
    .description('re-encrypt every stored secret under a new registry key (crash-safe: run it again to finish)')
    .option(
      '--new-key-file <file>',
      'the new key (32 bytes, hex or base64); afterwards configure it as TENANTCTL_SECRET_KEY or secretKeyFile',
    )
    .option('--generate', 'embedded registry: generate the new key and put it in place of the key file')
    .action(async (flags: { newKeyFile?: string; generate?: boolean }, command: Command) => {
      if (Boolean(flags.newKeyFile) === Boolean(flags.generate))
        throw new UsageError('rotate-key: give --new-key-file <file> or --generate (one of them)');
      const newKey = flags.newKeyFile ? readKeyFile(flags.newKeyFile) : undefined;
      const { rotateKey } = await import('../../lifecycle/secrets/index.js');
      await withCommandContext(
        command,
        async (ctx, out) => {
          const spinner = out.spinner('Re-encrypting secrets…');
          const result = await rotateKey(ctx, { newKey, generate: flags.generate }).finally(() => spinner.stop());
          out.result(result, () => {
            const lines = [
              `${result.changed ? out.color.green('✔') : out.color.dim('•')} ${result.message[0]!.toUpperCase()}${result.message.slice(1)}`,
            ];
            if (result.keyFile)
              lines.push(
                `The new key is in ${result.keyFile} (mode 0600). Back it up; the old key no longer opens this registry.`,
              );
            else if (result.changed)
              lines.push(
                'Now configure the new key (TENANTCTL_SECRET_KEY or secretKeyFile) everywhere tenantctl runs: the old key is refused from now on.',
              );
            return lines.join('\n');
          });
          return {
            outcome: result.changed ? 'ok' : 'noop',
            detail: {
              from: result.from,
              to: result.to,
              tenants: result.tenants,
              servers: result.servers,
              resumed: result.resumed,
            },
          };
        },
        { command: 'rotate-key', tenant: null },
      );
    });
}
