/**
 * The notebook's end of the kernel's `agent_kernel.notebook` comm: the agent in the kernel
 * asks for the live notebook's cells (unsaved edits and outputs included) and sends the cell
 * edits a person approved. Edits go through the cell's shared model, so Ctrl+Z undoes them;
 * an edited cell carries `metadata.agent_kernel = {edited, previous}` and a marker with a
 * one-click Revert. The comm is opened from here once the kernel has the target, that is
 * after `%load_ext agent_kernel` (see DESIGN.md).
 */

import { INotebookModel, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage } from '@jupyterlab/services';

import { element } from './dom';

export const COMM_TARGET = 'agent_kernel.notebook';
export const METADATA_KEY = 'agent_kernel';
export const EDITED_CLASS = 'jp-AgentEdited';
export const MARKER_CLASS = 'jp-AgentEdited-marker';

/** What the kernel asks: its request id, the operation and the operation's arguments. */
export interface IBridgeRequest {
  request: string;
  op: string;
  index?: number;
  cell_id?: string;
  old?: string;
  source?: string;
}

/** A cell's model, as the notebook's model holds it. */
export type ICellModel = ReturnType<INotebookModel['cells']['get']>;

export interface IBridgeReply {
  reply_to: string;
  ok: boolean;
  [key: string]: unknown;
}

interface IEditMark {
  edited: boolean;
  previous: string;
}

/** The reply to a request, from the notebook's model as it is now. */
export function answer(model: INotebookModel, request: IBridgeRequest, path: string): IBridgeReply {
  const reply = { reply_to: String(request.request), ok: true };
  if (request.op === 'cells') {
    const cells = Array.from(model.cells, cell => cell.toJSON());
    return { ...reply, cells, path };
  }
  if (request.op === 'edit') {
    const error = applyEdit(model, request);
    return error ? { ...reply, ok: false, error } : reply;
  }
  return { ...reply, ok: false, error: `unknown operation ${JSON.stringify(request.op)}` };
}

/** The cell a request names: by id when it has one, else by index. */
export function findCell(model: INotebookModel, request: IBridgeRequest): ICellModel | null {
  const cells = Array.from(model.cells);
  if (request.cell_id) {
    return cells.find(cell => cell.id === request.cell_id) ?? null;
  }
  const index = request.index ?? -1;
  return index >= 0 && index < cells.length ? cells[index] : null;
}

/** Apply an approved edit; a reason it was not applied, or '' when it was. */
export function applyEdit(model: INotebookModel, request: IBridgeRequest): string {
  const cell = findCell(model, request);
  if (!cell) {
    return `there is no cell ${request.cell_id || request.index} in the notebook now`;
  }
  const current = cell.sharedModel.getSource();
  if (typeof request.source !== 'string') {
    return 'the edit has no source';
  }
  if (current !== request.old) {
    return 'the cell changed after the agent read it; ask the agent again';
  }
  const earlier = editMark(cell);
  // One transaction: the source and the mark undo together.
  cell.sharedModel.transact(() => {
    cell.sharedModel.setSource(request.source as string);
    cell.setMetadata(METADATA_KEY, {
      edited: true,
      previous: earlier ? earlier.previous : current
    });
  });
  return '';
}

/** The source before the agent's first edit, when the cell carries the mark. */
export function editMark(cell: ICellModel): IEditMark | null {
  const mark = cell.getMetadata(METADATA_KEY) as IEditMark | undefined;
  return mark && mark.edited && typeof mark.previous === 'string' ? mark : null;
}

/** Put the source back as it was before the agent edited it, and drop the mark. */
export function revertEdit(cell: ICellModel): boolean {
  const mark = editMark(cell);
  if (!mark) {
    return false;
  }
  cell.sharedModel.transact(() => {
    cell.sharedModel.setSource(mark.previous);
    cell.deleteMetadata(METADATA_KEY);
  });
  return true;
}

/** Show (or remove) the "edited by the agent" marker on every cell of a notebook. */
export function markCells(panel: NotebookPanel): void {
  for (const cell of panel.content.widgets) {
    const mark = editMark(cell.model);
    const marker = cell.node.querySelector(`:scope > .${MARKER_CLASS}`);
    cell.toggleClass(EDITED_CLASS, mark !== null);
    if (!mark) {
      marker?.remove();
      continue;
    }
    if (marker) {
      continue;
    }
    const revert = element('button', 'jp-AgentEdited-revert', 'Revert') as HTMLButtonElement;
    revert.title = 'Put back the source from before the agent edited this cell';
    revert.addEventListener('click', () => {
      revertEdit(cell.model);
      markCells(panel);
    });
    const label = element('span', 'jp-AgentEdited-label', '✎ Edited by the agent');
    const node = element('div', MARKER_CLASS);
    node.append(label, revert);
    cell.node.prepend(node);
  }
}

/** One notebook's comm with its kernel: opened when the kernel can take it, re-opened
 * after a restart or a later `%load_ext agent_kernel`. */
export class NotebookBridge {
  constructor(private panel: NotebookPanel) {
    const context = panel.sessionContext;
    context.kernelChanged.connect(() => {
      this.comm = null;
      void this.connect();
    });
    context.statusChanged.connect((_, status) => {
      if (status === 'restarting' || status === 'dead') {
        this.comm = null;
      }
    });
    panel.context.ready.then(() => {
      markCells(panel);
      panel.model?.cells.changed.connect(() => markCells(panel));
    });
  }

  comm: Kernel.IComm | null = null;
  private opening = false;

  get connected(): boolean {
    return this.comm !== null && !this.comm.isDisposed;
  }

  /** Open the comm if the kernel is there and none is open (a no-op otherwise). */
  async connect(): Promise<void> {
    const kernel = this.panel.sessionContext.session?.kernel;
    if (!kernel || this.connected || this.opening) {
      return;
    }
    this.opening = true;
    try {
      const comm = kernel.createComm(COMM_TARGET);
      comm.onMsg = message => this.received(comm, message);
      // A kernel without the target (agent_kernel not loaded yet) closes it at once.
      comm.onClose = () => {
        if (this.comm === comm) {
          this.comm = null;
        }
      };
      this.comm = comm;
      await comm.open({ path: this.panel.context.path }).done;
    } catch {
      this.comm = null;
    } finally {
      this.opening = false;
    }
  }

  private received(comm: Kernel.IComm, message: KernelMessage.ICommMsgMsg): void {
    const data = message.content.data as unknown as IBridgeRequest;
    const model = this.panel.model;
    if (!data || typeof data.request !== 'string' || !model) {
      return;
    }
    const reply = answer(model, data, this.panel.context.path);
    if (data.op === 'edit' && reply.ok) {
      markCells(this.panel);
    }
    comm.send(reply as Parameters<Kernel.IComm['send']>[0]);
  }
}
