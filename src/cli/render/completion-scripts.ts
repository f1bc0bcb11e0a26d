/**
 * Shell completion scripts, written from the program's own command tree (so a new command or flag
 * completes without touching this file). Tenant slugs and server names come at completion time
 * from `tenantctl __complete-names tenants|servers` (cached briefly: see commands/completion.ts).
 */
import type { Command } from 'commander';

export type Shell = 'bash' | 'zsh' | 'fish';
export const SHELLS: Shell[] = ['bash', 'zsh', 'fish'];

/** What completes after a command: its subcommands, its flags, and which names its arguments are. */
interface Node {
  path: string;
  subcommands: string[];
  flags: string[];
  names: 'tenants' | 'servers' | null;
}

/** Flags whose value is a server's name. */
const SERVER_FLAGS = ['--to', '--from-server', '--server', '--server-name'];

function nodes(program: Command): Node[] {
  const all: Node[] = [];
  const visit = (command: Command, path: string) => {
    const visible = command.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
    const args = command.registeredArguments.map((a) => a.name());
    const names = args.some((a) => a === 'slug' || a === 'slugs')
      ? 'tenants'
      : path.startsWith('server ') && args.includes('name')
        ? 'servers'
        : null;
    all.push({
      path,
      subcommands: visible.map((c) => c.name()),
      flags: command.options.filter((o) => !o.hidden && o.long).map((o) => o.long!),
      names,
    });
    for (const sub of visible) visit(sub, path ? `${path} ${sub.name()}` : sub.name());
  };
  visit(program, '');
  return all;
}

const words = (list: string[]) => list.join(' ');

export function completionScript(program: Command, shell: Shell): string {
  return shell === 'fish' ? fishScript(nodes(program)) : bashScript(nodes(program), shell === 'zsh');
}

/** bash, and zsh through its bash compatibility (bashcompinit). */
function bashScript(all: Node[], zsh: boolean): string {
  const cases = (pick: (n: Node) => string) =>
    all
      .filter((n) => pick(n))
      .map((n) => `    "${n.path}") echo "${pick(n)}" ;;`)
      .join('\n');
  return `# tenantctl ${zsh ? 'zsh' : 'bash'} completion. Load it with:  ${zsh ? 'source <(tenantctl completion zsh)' : 'source <(tenantctl completion bash)'}
${zsh ? 'autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n' : ''}_tenantctl_subcommands() {
  case "$1" in
${cases((n) => words(n.subcommands))}
  esac
}
_tenantctl_flags() {
  case "$1" in
${cases((n) => words(n.flags))}
  esac
}
_tenantctl_names() {
  case "$1" in
${cases((n) => n.names ?? '')}
  esac
}
_tenantctl() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ $word == -* ]] && continue
    [[ " $(_tenantctl_subcommands "$path") " == *" $word "* ]] && path="\${path:+$path }$word"
  done
  case "$prev" in
    ${SERVER_FLAGS.join('|')})
      COMPREPLY=($(compgen -W "$("\${COMP_WORDS[0]}" __complete-names servers 2>/dev/null)" -- "$cur"))
      return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_tenantctl_flags "$path") $(_tenantctl_flags "")" -- "$cur"))
    return
  fi
  local candidates kind
  candidates="$(_tenantctl_subcommands "$path")"
  kind="$(_tenantctl_names "$path")"
  [[ -n $kind ]] && candidates="$candidates $("\${COMP_WORDS[0]}" __complete-names "$kind" 2>/dev/null)"
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -F _tenantctl tenantctl
`;
}

function fishScript(all: Node[]): string {
  const lines = [
    '# tenantctl fish completion. Load it with:  tenantctl completion fish | source',
    'complete -c tenantctl -f',
  ];
  for (const n of all) {
    const parts = n.path ? n.path.split(' ') : [];
    // The command line is at this node: its words are there, and none of its subcommands yet.
    const at =
      parts.length === 0
        ? '__fish_use_subcommand'
        : `__fish_seen_subcommand_from ${parts.at(-1)}${n.subcommands.length ? `; and not __fish_seen_subcommand_from ${words(n.subcommands)}` : ''}`;
    if (n.subcommands.length) lines.push(`complete -c tenantctl -n '${at}' -a '${words(n.subcommands)}'`);
    // The program's own flags (--json, --config…) go with every command.
    for (const flag of n.flags)
      lines.push(`complete -c tenantctl ${parts.length ? `-n '${at}' ` : ''}-l ${flag.slice(2)}`);
    if (n.names)
      lines.push(`complete -c tenantctl -n '${at}' -a '(tenantctl __complete-names ${n.names} 2>/dev/null)'`);
  }
  for (const flag of SERVER_FLAGS)
    lines.push(`complete -c tenantctl -l ${flag.slice(2)} -x -a '(tenantctl __complete-names servers 2>/dev/null)'`);
  return `${lines.join('\n')}\n`;
}
