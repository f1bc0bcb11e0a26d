// ESLint flat config: type-aware checks that catch real bugs (a promise nobody awaits, an async
// function passed where a callback's result is ignored) and a 120-column limit on code and
// comments (a long message string may run past it: breaking one would only hide it from grep).
// Layout is Prettier's (.prettierrc.json); `npm run lint` checks both, `npm run format` fixes it.
import tseslint from 'typescript-eslint';

const MAX_LEN = [
  'error',
  { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true, ignoreStrings: true, ignoreTemplateLiterals: true },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'coverage/**', 'test-results/**', 'test/fixtures/**'] },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'vitest.config.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      // A worker's failure is passed on as it came: unknown, like anything a catch receives.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/no-base-to-string': 'error',
      '@typescript-eslint/no-redundant-type-constituents': 'error',
      'max-len': MAX_LEN,
    },
  },
  { files: ['bench/**/*.mjs', 'eslint.config.js'], rules: { 'max-len': MAX_LEN } },
);
