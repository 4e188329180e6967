/**
 * The browser tests: Galata's Playwright settings with Debian's Chromium (Playwright's own
 * browser download cannot run here), the scripted model server and JupyterLab as servers.
 */
const path = require('path');
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const labPort = process.env.AGENT_KERNEL_UI_PORT ?? '18888';
const modelPort = process.env.AGENT_KERNEL_MODEL_PORT ?? '18765';
const python = process.env.PYTHON ?? 'python';
// Seconds between streamed chunks: slower than the kernel's 80 ms display updates by default,
// so each word is shown as it arrives; lower it to see the coalescing.
const chunkDelay = process.env.AGENT_KERNEL_CHUNK_DELAY ?? '0.15';
const artifacts = path.join(__dirname, 'artifacts');

module.exports = {
  ...baseConfig,
  testDir: 'tests',
  outputDir: path.join(artifacts, 'test-results'),
  reporter: [['list'], ['html', { open: 'never', outputFolder: path.join(artifacts, 'report') }]],
  // The scripted model answers each request once: a retried test would find it used up.
  retries: 0,
  workers: 1,
  timeout: 180_000,
  use: {
    ...baseConfig.use,
    baseURL: `http://127.0.0.1:${labPort}`,
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update'
      ]
    },
    trace: 'retain-on-failure',
    video: 'off' // recording needs Playwright's own ffmpeg download
  },
  webServer: [
    {
      command:
        `mkdir -p "${artifacts}" && rm -f "${artifacts}/sent-text.jsonl" && ` +
        `${python} -m agent_kernel.testing --script scripted-model.json --port ${modelPort} ` +
        `--chunk-delay ${chunkDelay} --text-log "${artifacts}/sent-text.jsonl" ` +
        `> "${artifacts}/scripted-model.log" 2>&1`,
      url: `http://127.0.0.1:${modelPort}/v1/models`,
      reuseExistingServer: false,
      timeout: 30_000
    },
    {
      // Its log (and the kernels') goes to artifacts/jupyter.log, to read when a test fails.
      command:
        `mkdir -p "${artifacts}" && ${python} -m jupyterlab ` +
        `--config jupyter_server_test_config.py > "${artifacts}/jupyter.log" 2>&1`,
      url: `http://127.0.0.1:${labPort}/lab`,
      reuseExistingServer: false,
      timeout: 120_000,
      env: {
        OPENAI_BASE_URL: `http://127.0.0.1:${modelPort}/v1`,
        OPENAI_API_KEY: 'sk-scripted-model-needs-no-key',
        AGENT_KERNEL_MODEL: 'scripted-model'
      }
    }
  ]
};
