// jsdom has no navigator.clipboard, which a browser page served over localhost or HTTPS has;
// JupyterLab's clipboard warns "Clipboard API not available" without one. An in-memory one
// stands in, so jest's output shows only what the tests themselves say.
const written = new Map();
Object.defineProperty(globalThis.navigator, 'clipboard', {
  configurable: true,
  value: {
    writeText: async text => void written.set('text/plain', text),
    readText: async () => written.get('text/plain') ?? '',
    write: async () => undefined,
    read: async () => []
  }
});
