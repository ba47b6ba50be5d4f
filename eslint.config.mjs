import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const NO_TEST_IMPORTS = {
  regex: '(^|/)test/',
  message: 'product code must not import from test/ — move what it needs into the product',
};
const NO_TOOLS_IMPORTS = {
  regex: '(^|/)tools/',
  message: 'local-cloud/ must not depend on tools/ — move what both need into local-cloud/ or shared/',
};

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', '.data/', 'coverage/', '**/*.js', '**/*.cjs', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // Product code (everything outside test/) never depends on test code: what the product needs lives
    // in the product, and a test may then import it.
    ignores: ['test/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_TEST_IMPORTS] }] },
  },
  {
    // The local cloud is a library the operator tools use, never the other way round.
    files: ['local-cloud/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_TEST_IMPORTS, NO_TOOLS_IMPORTS] }] },
  },
);
