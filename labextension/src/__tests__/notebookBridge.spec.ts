/**
 * The extension's side of the notebook comm on a real notebook model: the cells it serves,
 * the edits it applies or refuses, and Revert.
 */

import { NotebookModel } from '@jupyterlab/notebook';

import { answer, applyEdit, editMark, revertEdit } from '../notebookBridge';

const NOTEBOOK = {
  cells: [
    {
      cell_type: 'code',
      id: 'c0',
      metadata: {},
      execution_count: 1,
      source: 'print("hi")',
      outputs: [{ output_type: 'stream', name: 'stdout', text: 'hi\n' }]
    },
    {
      cell_type: 'code',
      id: 'c1',
      metadata: {},
      execution_count: 2,
      source: 'sales["reveneu"].sum()',
      outputs: [
        {
          output_type: 'error',
          ename: 'KeyError',
          evalue: "'reveneu'",
          traceback: ["KeyError: 'reveneu'"]
        }
      ]
    },
    { cell_type: 'markdown', id: 'm2', metadata: {}, source: '# Notes' }
  ],
  metadata: {},
  nbformat: 4,
  nbformat_minor: 5
};

function model(): NotebookModel {
  const notebook = new NotebookModel();
  notebook.fromJSON(NOTEBOOK as any);
  return notebook;
}

describe('the notebook bridge', () => {
  it('serves every cell with its outputs, as nbformat', () => {
    const reply = answer(model(), { request: 'req1', op: 'cells' }, 'work/a.ipynb');
    expect(reply.ok).toBe(true);
    expect(reply.reply_to).toBe('req1');
    expect(reply.path).toBe('work/a.ipynb');
    const cells = reply.cells as any[];
    expect(cells.map(c => c.id)).toEqual(['c0', 'c1', 'm2']);
    expect(cells[0].outputs[0].text).toBe('hi\n');
    expect(cells[1].outputs[0].ename).toBe('KeyError');
    expect(cells[2].cell_type).toBe('markdown');
  });

  it('applies an approved edit, marks the cell, and Revert puts the source back', () => {
    const notebook = model();
    const request = {
      request: 'req2',
      op: 'edit',
      cell_id: 'c1',
      index: 1,
      old: 'sales["reveneu"].sum()',
      source: 'sales["revenue"].sum()'
    };
    expect(answer(notebook, request, 'a.ipynb')).toEqual({ reply_to: 'req2', ok: true });
    const cell = notebook.cells.get(1);
    expect(cell.sharedModel.getSource()).toBe('sales["revenue"].sum()');
    expect(editMark(cell)).toEqual({ edited: true, previous: 'sales["reveneu"].sum()' });

    // A second edit keeps the original source to revert to.
    applyEdit(notebook, {
      ...request,
      old: 'sales["revenue"].sum()',
      source: 'sales.revenue.sum()'
    });
    expect(editMark(cell)?.previous).toBe('sales["reveneu"].sum()');

    expect(revertEdit(cell)).toBe(true);
    expect(cell.sharedModel.getSource()).toBe('sales["reveneu"].sum()');
    expect(editMark(cell)).toBeNull();
    expect(revertEdit(cell)).toBe(false);
  });

  it('refuses an edit of a cell that changed since the agent read it', () => {
    const notebook = model();
    notebook.cells.get(1).sharedModel.setSource('typed by the person');
    const reply = answer(
      notebook,
      { request: 'req3', op: 'edit', cell_id: 'c1', old: 'sales["reveneu"].sum()', source: 'x' },
      'a.ipynb'
    );
    expect(reply.ok).toBe(false);
    expect(reply.error).toMatch(/changed after the agent read it/);
    expect(notebook.cells.get(1).sharedModel.getSource()).toBe('typed by the person');
  });

  it('refuses a cell that is not there and an unknown operation', () => {
    const notebook = model();
    const missing = answer(
      notebook,
      { request: 'r', op: 'edit', cell_id: 'gone', old: '', source: 'x' },
      'a.ipynb'
    );
    expect(missing.error).toMatch(/no cell gone/);
    const byIndex = answer(
      notebook,
      { request: 'r', op: 'edit', index: 7, old: '', source: 'x' },
      ''
    );
    expect(byIndex.ok).toBe(false);
    expect(answer(notebook, { request: 'r', op: 'delete' }, '').error).toMatch(/unknown operation/);
  });
});
