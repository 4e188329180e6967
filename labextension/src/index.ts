/**
 * agent-kernel in JupyterLab: the "Insert agent cell" command and toolbar button, the side
 * panel of the project's sessions and memories, and code highlighting for saved traces
 * (the trace renderer itself is the MIME extension in mime.ts).
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { PathExt } from '@jupyterlab/coreutils';
import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';

import { setHighlighter } from './highlight';
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
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null
  ) => {
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

export default [commands, highlighting, projectPanel];
