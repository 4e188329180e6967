/**
 * The agent reads the live notebook and edits its cells, in Chromium (runs after
 * agent.spec.ts: the scripted model's replies for these flows come last in
 * scripted-model.json):
 * (a) asked about a cell's printed output, which only the live notebook holds (IPython's
 *     history keeps no printed text and the notebook was never saved), it reads it through
 *     the extension;
 * (b) `%%agent fix` after a failing cell: the approval card shows a diff, Approve changes the
 *     cell in the live notebook, the cell is marked as edited, Revert puts it back.
 */

import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import * as fs from 'fs';
import * as path from 'path';

const SCREENSHOTS = path.resolve(__dirname, '..', 'artifacts', 'screenshots');
const NOTEBOOK = 'notebook.ipynb';
const SETUP = `%load_ext agent_kernel
import pandas as pd
sales = pd.DataFrame({"revenue": [100.0, 250.5]})`;
const PRINTS = 'print("the launch code is", 4000 + 271)';
const FAILING = 'total = sales["reveneu"].sum()\ntotal';
const FIXED = 'total = sales["revenue"].sum()\ntotal';

const EMPTY_NOTEBOOK = {
  cells: [{ cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: '' }],
  metadata: {
    kernelspec: { display_name: 'Python 3 (ipykernel)', language: 'python', name: 'python3' }
  },
  nbformat: 4,
  nbformat_minor: 5
};

test.use({ serverFiles: 'only-on-failure' });

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

test('the agent reads the live notebook and fixes a failing cell with an approved edit', async ({
  page,
  tmpPath
}) => {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.contents.uploadContent(JSON.stringify(EMPTY_NOTEBOOK), 'text', `${tmpPath}/${NOTEBOOK}`);
  await page.notebook.openByPath(`${tmpPath}/${NOTEBOOK}`);
  await page.notebook.activate(NOTEBOOK);
  await page.notebook.setCell(0, 'code', SETUP);
  await page.notebook.runCell(0, { inplace: true });
  await page.notebook.addCell('code', PRINTS);
  await page.notebook.runCell(1, { inplace: true });
  await expect((await page.notebook.getCellLocator(1))!).toContainText('the launch code is 4271');

  // (a) A question only the live notebook can answer.
  await page.notebook.addCell('code', '%%agent\nWhat did the cell above print?');
  await page.notebook.runCell(2, { inplace: true });
  const asked = (await page.notebook.getCellLocator(2))!;
  const trace = asked.locator('.jp-RenderedAgentTrace');
  await expect(trace).toBeVisible({ timeout: 60_000 });
  await expect(asked).toContainText('the launch code is 4271');
  const step = trace
    .locator('.jp-AgentTrace-step[data-kind="tool"]')
    .filter({ has: page.locator('.jp-AgentTrace-name', { hasText: /^notebook_cells$/ }) });
  await step.locator('.jp-AgentTrace-row').click();
  const result = step.locator('.jp-AgentTrace-result');
  await expect(result).toContainText('live notebook (JupyterLab front end)');
  await expect(result).toContainText('[stdout] the launch code is 4271');
  await trace.scrollIntoViewIfNeeded();
  await shot(page, '6-notebook-cells');

  // (b) A failing cell, then %%agent fix: a diff to approve, applied to the live cell.
  await page.notebook.addCell('code', FAILING);
  await page.notebook.runCell(3, { inplace: true });
  await expect((await page.notebook.getCellLocator(3))!).toContainText('KeyError');
  await page.notebook.addCell('code', '%%agent fix');
  await page.notebook.runCell(4, { inplace: true, wait: false });
  const fixing = (await page.notebook.getCellLocator(4))!;
  const card = fixing.locator('.agent-kernel-approval');
  await expect(card).toBeVisible({ timeout: 60_000 });
  await expect(card).toContainText('edit_cell needs your approval');
  const diff = card.locator('.agent-kernel-diff');
  await expect(diff).toContainText('-total = sales["reveneu"].sum()');
  await expect(diff).toContainText('+total = sales["revenue"].sum()');
  expect(await source(page, 3)).toBe(FAILING); // nothing changes before the approval
  await card.scrollIntoViewIfNeeded();
  await shot(page, '7-fix-diff');
  await card.locator('button', { hasText: 'Approve' }).click();
  await expect(fixing.locator('.jp-RenderedAgentTrace')).toBeVisible({ timeout: 60_000 });
  await expect(fixing).toContainText('I corrected cell 3');

  await expect.poll(() => source(page, 3)).toBe(FIXED);
  const edited = (await page.notebook.getCellLocator(3))!;
  const marker = edited.locator('.jp-AgentEdited-marker');
  await expect(marker).toContainText('Edited by the agent');
  await marker.scrollIntoViewIfNeeded();
  await shot(page, '8-cell-edited');
  // The edit was not run: the cell still shows the KeyError until the person runs it.
  await expect(edited).toContainText('KeyError');

  await marker.locator('button', { hasText: 'Revert' }).click();
  await expect.poll(() => source(page, 3)).toBe(FAILING);
  await expect(edited.locator('.jp-AgentEdited-marker')).toHaveCount(0);
});
