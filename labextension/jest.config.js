const jestJupyterLab = require('@jupyterlab/testing/lib/jest-config');

// Packages published as ES modules, which jest must transform before running.
const esModules = [
  '@codemirror',
  '@jupyter/ydoc',
  '@jupyter/react-components',
  '@jupyter/web-components',
  '@jupyterlab/',
  '@microsoft',
  'exenv-es6',
  'lib0',
  'marked',
  'nanoid',
  'vscode-ws-jsonrpc',
  'y-protocols',
  'y-websocket',
  'yjs'
].join('|');

module.exports = {
  ...jestJupyterLab(__dirname),
  // The preset's junit and github-actions reporters write files and annotations
  // that nothing here reads.
  reporters: ['default'],
  testRegex: 'src/.*__tests__/.*\\.spec\\.tsx?$',
  collectCoverageFrom: ['src/**/*.{ts,tsx}', '!src/**/__tests__/**'],
  transformIgnorePatterns: [`/node_modules/(?!${esModules}).+`]
};
