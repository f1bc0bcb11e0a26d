/**
 * Knex prints pool and driver warnings straight to the console; the same failures reach us as
 * rejected promises, which the CLI reports once, in one line. Keeping knex quiet keeps stderr
 * readable and stdout clean for --json.
 */
export const QUIET_KNEX_LOG = {
  warn() {},
  error() {},
  deprecate() {},
  debug() {},
};
