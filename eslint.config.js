// ESLint (flat config): eslint's and typescript-eslint's recommended rules over every TypeScript and JavaScript
// file. Type-aware rules are left out: they would take most of a minute on every run. Formatting is not linted.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'var/', 'node_modules/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // A leading underscore marks what is left out on purpose: `const { _csrf, ...input } = form.data`, `(error, _req, res, _next)`.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // The forms refuse control characters, so their patterns name them on purpose.
      'no-control-regex': 'off',
      // `interface User extends AppUser {}` is how Express.User is declared for passport.
      '@typescript-eslint/no-empty-object-type': ['error', { allowInterfaces: 'with-single-extends' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
