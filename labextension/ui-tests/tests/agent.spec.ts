/**
 * A person's path through agent-kernel in JupyterLab, in Chromium, against the scripted model
 * (scripted-model.json): insert an agent cell from the toolbar, run it, watch the steps
 * appear while the cell is busy, read the result and its trace, approve the code a second
 * cell asks to run on its approval card, find the session in the side
 * panel, save, shut the kernel down, reload, and find the trace still drawn by the extension.
 *
 * Screenshots of each stage go to artifacts/screenshots/. The time from the scripted server
 * sending a streamed word to that word appearing in the page is measured on the way.
 */

import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import * as fs from 'fs';
import * as path from 'path';

const ARTIFACTS = path.resolve(__dirname, '..', 'artifacts');
const SCREENSHOTS = path.join(ARTIFACTS, 'screenshots');
const SENT_TEXT = path.join(ARTIFACTS, 'sent-text.jsonl');
const NOTEBOOK = 'agent.ipynb';
const REQUEST = 'Which region had the highest revenue in March?';
const CODE_REQUEST = 'Compute the total revenue with Python.';
const WORD = /\bt\d{2}\b/g; // the scripted answer's numbered words, one per streamed chunk

const SETUP = `%load_ext agent_kernel
import pandas as pd
sales = pd.DataFrame({
    "region": ["West", "East", "North", "South"] * 3,
    "month": ["Jan"] * 4 + ["Feb"] * 4 + ["Mar"] * 4,
    "revenue": [900.0, 800.0, 700.0, 500.0, 1000.0, 1100.0, 650.0, 580.0,
                1450.0, 1200.0, 980.0, 610.0],
})`;

const EMPTY_NOTEBOOK = {
  cells: [{ cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: '' }],
  metadata: {
    kernelspec: { display_name: 'Python 3 (ipykernel)', language: 'python', name: 'python3' }
  },
  nbformat: 4,
  nbformat_minor: 5
};

test.use({ serverFiles: 'only-on-failure' });

/** A cell's source from the notebook model (galata's reader selects the cell's text). */
async function source(page: IJupyterLabPageFixture, index: number): Promise<string> {
  return page.evaluate(
    (i: number) =>
      (window as any).jupyterapp.shell.currentWidget.content.widgets[i].model.sharedModel.getSource(),
    index
  );
}

async function shot(page: IJupyterLabPageFixture, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

/** Note, in the page, when each numbered word first appears in any output. */
async function watchWords(page: IJupyterLabPageFixture): Promise<void> {
  await page.evaluate((source: string) => {
    const pattern = new RegExp(source, 'g');
    const seen: { [word: string]: number } = {};
    (window as any).agentWordTimes = seen;
    // The page's clock against the system clock the server's time.time() reads.
    (window as any).agentClockSkew = performance.timeOrigin + performance.now() - Date.now();
    const observer = new MutationObserver(() => {
      const now = performance.timeOrigin + performance.now();
      for (const output of Array.from(document.querySelectorAll('.jp-OutputArea'))) {
        for (const match of (output.textContent ?? '').matchAll(pattern)) {
          seen[match[0]] ??= now;
        }
      }
    });
    observer.observe(document.body, { childList: true, characterData: true, subtree: true });
  }, WORD.source);
}

function percentile(sorted: number[], p: number): number {
  const rank = (sorted.length - 1) * p;
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

/** Milliseconds from the server sending each word to the page showing it. */
async function wordLatencies(page: IJupyterLabPageFixture): Promise<number[]> {
  const seen: { [word: string]: number } = await page.evaluate(
    () => (window as any).agentWordTimes
  );
  const sent: { [word: string]: number } = {};
  for (const line of fs.readFileSync(SENT_TEXT, 'utf-8').split('\n')) {
    if (line.trim()) {
      const record = JSON.parse(line) as { time: number; text: string };
      for (const word of record.text.match(WORD) ?? []) {
        sent[word] ??= record.time * 1000;
      }
    }
  }
  return Object.keys(sent)
    .filter(word => word in seen)
    .map(word => seen[word] - sent[word]);
}

test('an agent cell runs live, leaves a trace, and the trace renders with no kernel', async ({
  page,
  request,
  tmpPath
}) => {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const problems: string[] = []; // what the extension logs or throws in the page
  page.on('console', message => {
    if (message.type() === 'error' || message.type() === 'warning') {
      problems.push(`${message.type()}: ${message.text()}`);
    }
  });
  page.on('pageerror', error => problems.push(`uncaught: ${error.message}`));

  // 1. A notebook with data, and an agent cell from the toolbar button. (Made under its own
  // name: a notebook created as Untitled.ipynb and renamed keeps its kernel's first name.)
  await page.contents.uploadContent(JSON.stringify(EMPTY_NOTEBOOK), 'text', `${tmpPath}/${NOTEBOOK}`);
  await page.notebook.openByPath(`${tmpPath}/${NOTEBOOK}`);
  await page.notebook.activate(NOTEBOOK);
  await page.notebook.setCell(0, 'code', SETUP);
  await page.notebook.runCell(0, { inplace: true });
  const button = page.locator(
    '.jp-NotebookPanel-toolbar [data-jp-item-name="insert-agent-cell"]'
  );
  await expect(button).toHaveText('%%agent');
  await button.click();
  await expect.poll(() => source(page, 1)).toBe('%%agent\n');
  await page.waitForFunction(() => {
    const notebook = (window as any).jupyterapp.shell.currentWidget.content;
    return notebook.activeCell?.editor?.getCursorPosition().line === 1; // typing goes below
  });
  await page.keyboard.type(REQUEST);
  expect(await source(page, 1)).toBe(`%%agent\n${REQUEST}`);
  await shot(page, '1-agent-cell');

  // 2. Run it: the tool steps show while the cell is still busy.
  await watchWords(page);
  await page.notebook.runCell(1, { inplace: true, wait: false });
  const cell = (await page.notebook.getCellLocator(1))!;
  const output = cell.locator('.jp-Cell-outputWrapper');
  const prompt = cell.locator('.jp-InputArea-prompt');
  await expect(output).toContainText('list_variables', { timeout: 30_000 });
  await expect(output).toContainText('describe_dataframe');
  await expect(prompt).toHaveText('[*]:');
  await expect(output).toContainText(/t0\d/, { timeout: 30_000 }); // the answer streaming
  await expect(prompt).toHaveText('[*]:');
  await shot(page, '2-running');

  // 3. The result, and the trace drawn by the extension (not the HTML fallback).
  const trace = output.locator('.jp-RenderedAgentTrace');
  await expect(trace).toBeVisible({ timeout: 60_000 });
  await expect(prompt).toHaveText('[2]:');
  await expect(output).toContainText('West had the highest revenue in March');
  await expect(trace.locator('.jp-AgentTrace-model')).toHaveText('scripted-model');
  await expect(trace.locator('.jp-AgentTrace-totals')).toContainText(
    '4 steps · 4,534 tokens in / 153 out'
  );
  await expect(trace.locator('.jp-AgentTrace-runStatus')).toHaveText('answered');
  await expect(trace.locator('.jp-AgentTrace-step')).toHaveCount(8); // with the answer check
  const sqlStep = trace
    .locator('.jp-AgentTrace-step[data-kind="tool"]')
    .filter({ has: page.locator('.jp-AgentTrace-name', { hasText: /^sql$/ }) });
  await sqlStep.locator('.jp-AgentTrace-row').click();
  const code = sqlStep.locator('.jp-AgentTrace-code');
  await expect(code).toContainText('GROUP BY region');
  await expect(code).toHaveClass(/jp-AgentTrace-highlighted/); // JupyterLab's CodeMirror
  expect(await code.locator('span').count()).toBeGreaterThan(5);
  await expect(sqlStep.locator('.jp-AgentTrace-result')).toContainText('West');
  await trace.scrollIntoViewIfNeeded();
  await shot(page, '3-result');
  await page.theme.setDarkTheme();
  await trace.scrollIntoViewIfNeeded();
  await shot(page, '3-result-dark');
  await page.theme.setLightTheme();

  const latencies = (await wordLatencies(page)).sort((a, b) => a - b);
  const figure = {
    n: latencies.length,
    p50_ms: percentile(latencies, 0.5),
    p90_ms: percentile(latencies, 0.9),
    min_ms: latencies[0],
    max_ms: latencies[latencies.length - 1]
  };
  fs.writeFileSync(
    path.join(ARTIFACTS, 'token-latency.json'),
    JSON.stringify({ ...figure, latencies_ms: latencies }, null, 2)
  );
  const skew: number = await page.evaluate(() => (window as any).agentClockSkew);
  console.log(
    `token latency, scripted server send -> word in the page: p50 ${figure.p50_ms.toFixed(1)} ms ` +
      `(p90 ${figure.p90_ms.toFixed(1)} ms, min ${figure.min_ms.toFixed(1)}, ` +
      `max ${figure.max_ms.toFixed(1)}, n=${figure.n}; page clock - Date.now() = ` +
      `${skew.toFixed(1)} ms)`
  );
  expect(figure.n).toBe(30);
  // The goal is 100 ms; this bound only catches words that wait for the end of the run.
  expect(figure.p50_ms).toBeLessThan(1000);

  // 3b. Code asks first: the approval card is in the cell, and a click on Approve runs it.
  await page.notebook.addCell('code', `%%agent\n${CODE_REQUEST}`);
  await page.notebook.runCell(2, { inplace: true, wait: false });
  const second = (await page.notebook.getCellLocator(2))!;
  const card = second.locator('.agent-kernel-approval').first();
  await expect(card).toBeVisible({ timeout: 30_000 });
  await expect(card).toContainText('run_python needs your approval');
  await expect(card).toContainText('total = sales.revenue.sum()');
  await expect(second.locator('.jp-InputArea-prompt')).toHaveText('[*]:'); // the cell waits
  await card.scrollIntoViewIfNeeded();
  await shot(page, '3b-approval-card');
  await card.locator('button', { hasText: 'Approve' }).click();
  // The code ran in the sandbox; what it changed comes back as a diff to promote (data from
  // the sql result is in view, so the change is asked for too).
  const promote = second.locator('.agent-kernel-approval').nth(1);
  await expect(promote).toContainText('promote_variables needs your approval', {
    timeout: 60_000
  });
  await expect(promote).toContainText('total: float64 (new)');
  await promote.locator('button', { hasText: 'Approve' }).click();
  await expect(second.locator('.jp-RenderedAgentTrace')).toBeVisible({ timeout: 60_000 });
  await expect(second).toContainText('The total revenue is 10,470.');
  await expect(card).toContainText('Approved by');
  await expect(second.locator('.jp-RenderedAgentTrace')).toContainText('run_python');
  await second.scrollIntoViewIfNeeded();
  await shot(page, '3c-approved');

  // 4. The side panel lists the session the run recorded.
  await page.sidebar.openTab('agent-kernel-project-panel');
  const panel = page.locator('#agent-kernel-project-panel');
  const session = panel.locator('.jp-AgentPanel-session');
  await expect(session).toHaveCount(1, { timeout: 15_000 });
  await expect(session.locator('.jp-AgentPanel-itemText')).toHaveText(REQUEST);
  await expect(session.locator('.jp-AgentPanel-meta')).toContainText(`${NOTEBOOK} · 2 turns`);
  await shot(page, '4-side-panel');

  // 5. Save, shut the kernel down, reload, reopen without a kernel: the trace is still there.
  await page.notebook.save();
  await page.menu.clickMenuItem('Kernel>Shut Down Kernel');
  await expect
    .poll(async () => (await (await request.get('/api/kernels')).json()).length)
    .toBe(0);
  await page.notebook.close();
  // A fresh page whose layout does not reopen the notebook (which would start a kernel).
  await page.goto(`tree/${tmpPath}?reset`);
  await page.sidebar.openTab('filebrowser');
  await page.filebrowser.openDirectory(tmpPath);
  await page.notebook.open(NOTEBOOK, { noKernel: true }); // "Open With > Notebook (no kernel)"
  const reopened = (await page.notebook.getCellLocator(1))!;
  const saved = reopened.locator('.jp-RenderedAgentTrace');
  await expect(saved).toBeVisible();
  await expect(saved.locator('.jp-AgentTrace-step')).toHaveCount(8);
  await expect(saved.locator('.jp-AgentTrace-runStatus')).toHaveText('answered');
  await expect(reopened).toContainText('West had the highest revenue in March');
  expect(await (await request.get('/api/kernels')).json()).toEqual([]);
  await saved.scrollIntoViewIfNeeded();
  await shot(page, '5-reopened-without-kernel');

  expect(problems.filter(text => /agent-kernel|AgentTrace|AgentPanel/i.test(text))).toEqual([]);
});
