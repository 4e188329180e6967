/**
 * agent-kernel in JupyterLab: the "Insert agent cell" command and toolbar button, the side
 * panel of the project's sessions and memories, and code highlighting for saved traces
 * (the trace renderer itself is the MIME extension in mime.ts).
 */

import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { PathExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

import { setHighlighter } from './highlight';
import { NotebookBridge } from './notebookBridge';
import { agentIcon } from './icons';
import { ProjectPanel } from './panel';

export namespace CommandIDs {
  export const insertCell = 'agent-kernel:insert-cell';
  export const refreshPanel = 'agent-kernel:refresh-panel';
}

/** What a new agent cell starts with; the cursor goes to the line below. */
export const AGENT_CELL_SOURCE = '%%agent\n';

/** The folder of a notebook, relative to the server root ('' for the root itself). */
export function folderOf(panel: NotebookPanel): string {
  return PathExt.dirname(panel.context.localPath);
}

/** Insert a code cell starting with `%%agent` below the active cell and start editing it. */
export async function insertAgentCell(panel: NotebookPanel): Promise<void> {
  const notebook = panel.content;
  NotebookActions.insertBelow(notebook);
  if (notebook.activeCell?.model.type !== 'code') {
    NotebookActions.changeCellType(notebook, 'code');
  }
  const cell = notebook.activeCell;
  if (!cell) {
    return;
  }
  cell.model.sharedModel.setSource(AGENT_CELL_SOURCE);
  notebook.mode = 'edit';
  // A new cell gets its editor a moment later; the cursor can only be placed once it has.
  await cell.ready;
  cell.editor?.setCursorPosition({ line: 1, column: 0 });
  cell.editor?.focus();
}

/** The command and its toolbar button (placed by schema/plugin.json). */
const commands: JupyterFrontEndPlugin<void> = {
  id: 'agent-kernel:plugin',
  description: 'The "Insert agent cell" command and notebook toolbar button.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, palette: ICommandPalette | null) => {
    app.commands.addCommand(CommandIDs.insertCell, {
      label: 'Insert agent cell',
      caption: 'Insert a %%agent cell below the active cell',
      icon: agentIcon,
      isEnabled: () => tracker.currentWidget !== null,
      execute: async () => {
        const panel = tracker.currentWidget;
        if (panel) {
          await insertAgentCell(panel);
        }
      }
    });
    palette?.addItem({ command: CommandIDs.insertCell, category: 'Agent' });
  }
};

/** Hands JupyterLab's CodeMirror languages to the trace renderer. */
const highlighting: JupyterFrontEndPlugin<void> = {
  id: 'agent-kernel:highlighting',
  description: "Highlights code in agent traces with JupyterLab's editor languages.",
  autoStart: true,
  requires: [IEditorLanguageRegistry],
  activate: (app: JupyterFrontEnd, languages: IEditorLanguageRegistry) => {
    setHighlighter((code, language, into) =>
      languages.highlight(code, languages.findBest(language), into)
    );
  }
};

/** The side panel, following the current notebook's folder. */
const projectPanel: JupyterFrontEndPlugin<void> = {
  id: 'agent-kernel:project-panel',
  description: "A side panel listing the project's agent sessions and memories.",
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const panel = new ProjectPanel();
    app.shell.add(panel, 'left', { rank: 450 });
    restorer?.add(panel, 'agent-kernel-project-panel');

    const follow = (): void => {
      const current = tracker.currentWidget;
      if (current) {
        panel.folder = folderOf(current);
      }
    };
    tracker.currentChanged.connect(() => {
      follow();
      tracker.currentWidget?.context.pathChanged.connect(follow);
    });
    follow();

    // A finished cell may have run the agent (new turns) or `%agent remember` (a memory).
    NotebookActions.executed.connect((_, { notebook }) => {
      const owner = tracker.find(candidate => candidate.content === notebook);
      if (owner && folderOf(owner) === panel.folder) {
        panel.scheduleRefresh();
      }
    });

    app.commands.addCommand(CommandIDs.refreshPanel, {
      label: 'Refresh agent sessions and memories',
      execute: () => panel.refresh()
    });
    palette?.addItem({ command: CommandIDs.refreshPanel, category: 'Agent' });
  }
};

/** A cell whose run may have loaded agent_kernel, after which the kernel takes the comm. */
export const MAY_LOAD_AGENT = /agent/;

/** The live notebook for the agent in the kernel: cells on request, approved edits. */
const notebookBridge: JupyterFrontEndPlugin<void> = {
  id: 'agent-kernel:notebook-bridge',
  description: "Serves the live notebook's cells to the agent and applies approved cell edits.",
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker) => {
    const bridges = new WeakMap<NotebookPanel, NotebookBridge>();
    tracker.widgetAdded.connect((_, panel) => {
      const bridge = new NotebookBridge(panel);
      bridges.set(panel, bridge);
      void panel.sessionContext.ready.then(() => bridge.connect());
    });
    // Opening before `%load_ext agent_kernel` ran is refused by the kernel; try again after
    // a cell that may have loaded it (not after every cell: each refusal is a kernel log line).
    NotebookActions.executed.connect((_, { notebook, cell }) => {
      const panel = tracker.find(candidate => candidate.content === notebook);
      const bridge = panel ? bridges.get(panel) : undefined;
      if (bridge && !bridge.connected && MAY_LOAD_AGENT.test(cell.model.sharedModel.getSource())) {
        void bridge.connect();
      }
    });
  }
};

export default [commands, highlighting, projectPanel, notebookBridge];
