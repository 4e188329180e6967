// jest with JupyterLab's own configuration (@jupyterlab/testutils), as in the extension template.
const jestJupyterLab = require('@jupyterlab/testutils/lib/jest-config');

// ES modules jest has to transform: JupyterLab's list plus what CodeMirror highlighting loads.
const esModules = [
  '@codemirror',
  '@jupyter',
  '@jupyterlab',
  '@lezer',
  '@lumino',
  '@marijn',
  '@microsoft',
  'color',
  'crelt',
  'exenv-es6',
  'lib0',
  'marked',
  'nanoid',
  'style-mod',
  'vscode-ws-jsonrpc',
  'w3c-keyname',
  'y-protocols',
  'y-websocket',
  'yjs'
].join('|');

const baseConfig = jestJupyterLab(__dirname);

module.exports = {
  ...baseConfig,
  automock: false,
  setupFiles: [...(baseConfig.setupFiles ?? []), '<rootDir>/jest-setup.js'],
  reporters: ['default'],
  testRegex: 'src/.*/.*.spec.ts[x]?$',
  transformIgnorePatterns: [`/node_modules/(?!${esModules}).+`]
};
