/**
 * The side panel: the sessions and memories of the project the current notebook belongs to,
 * read from its `.agent/` store through the server extension. It only reads.
 */

import { refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { IMemoryRow, ISessionRow, fetchRows } from './api';
import { agentIcon } from './icons';
import { element } from './dom';

/** Reads one kind of row for a folder; the real one calls the server, tests pass their own. */
export type RowFetcher = <T>(route: 'sessions' | 'memories', folder: string) => Promise<T[]>;

const REFRESH_DELAY_MS = 300; // a burst of finished cells reads the store once

/** `just now`, `5 min ago`, `3 h ago`, else the date: how long ago the store saw it. */
export function ago(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) {
    return '';
  }
  const time = Date.parse(iso);
  if (Number.isNaN(time)) {
    return iso;
  }
  const seconds = Math.max(0, (now - time) / 1000);
  if (seconds < 60) {
    return 'just now';
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ago`;
  }
  if (seconds < 86400) {
    return `${Math.floor(seconds / 3600)} h ago`;
  }
  return new Date(time).toISOString().slice(0, 10);
}

export class ProjectPanel extends Widget {
  constructor(fetcher: RowFetcher = fetchRows) {
    super();
    this._fetch = fetcher;
    this.id = 'agent-kernel-project-panel';
    this.title.icon = agentIcon;
    this.title.caption = 'Agent: sessions and memories of this project';
    this.addClass('jp-AgentPanel');
    this.node.appendChild(this._header());
    this._folderLine = element('div', 'jp-AgentPanel-folder');
    this._error = element('div', 'jp-AgentPanel-error');
    this._error.hidden = true;
    this._sessions = element('section', 'jp-AgentPanel-section');
    this._sessions.dataset.section = 'sessions';
    this._memories = element('section', 'jp-AgentPanel-section');
    this._memories.dataset.section = 'memories';
    this.node.append(this._folderLine, this._error, this._sessions, this._memories);
    this._showFolder();
  }

  /** The folder (relative to the server's root, '' for the root) whose store is listed. */
  get folder(): string {
    return this._folder;
  }

  set folder(folder: string) {
    if (folder === this._folder) {
      return;
    }
    this._folder = folder;
    this._showFolder();
    this.scheduleRefresh(0);
  }

  /** Read the store again now, if the panel is shown; otherwise when it next is. */
  async refresh(): Promise<void> {
    if (!this.isVisible) {
      this._stale = true;
      return;
    }
    this._stale = false;
    const asked = ++this._requests;
    const folder = this._folder;
    this.node.classList.add('jp-mod-loading');
    try {
      const [sessions, memories] = await Promise.all([
        this._fetch<ISessionRow>('sessions', folder),
        this._fetch<IMemoryRow>('memories', folder)
      ]);
      if (asked !== this._requests) {
        return; // a newer refresh (another folder?) owns the panel now
      }
      this._error.hidden = true;
      this._renderSessions(sessions);
      this._renderMemories(memories);
      this._updated = new Date();
    } catch (error) {
      if (asked !== this._requests) {
        return;
      }
      this._error.textContent = `Could not read this folder's agent store: ${
        (error as Error).message
      }`;
      this._error.hidden = false;
    } finally {
      if (asked === this._requests) {
        this.node.classList.remove('jp-mod-loading');
        this._showFolder();
      }
    }
  }

  /** Refresh soon: several finished cells in a row cost one read of the store. */
  scheduleRefresh(delay: number = REFRESH_DELAY_MS): void {
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(() => void this.refresh(), delay);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._refreshIfStale();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._refreshIfStale();
  }

  private _refreshIfStale(): void {
    if (this.isVisible && (this._stale || this._updated === null)) {
      void this.refresh();
    }
  }

  dispose(): void {
    window.clearTimeout(this._timer);
    super.dispose();
  }

  private _header(): HTMLElement {
    const header = element('div', 'jp-AgentPanel-header');
    header.appendChild(element('h2', 'jp-AgentPanel-title', 'Agent'));
    const button = element('button', 'jp-AgentPanel-refresh jp-Button jp-mod-minimal');
    button.type = 'button';
    button.title = 'Read the sessions and memories again';
    button.setAttribute('aria-label', 'Refresh');
    button.appendChild(refreshIcon.element({ tag: 'span' }));
    button.addEventListener('click', () => void this.refresh());
    header.appendChild(button);
    return header;
  }

  private _showFolder(): void {
    const where = this._folder ? this._folder : 'the server root';
    const when = this._updated ? ` · read ${this._updated.toLocaleTimeString()}` : '';
    this._folderLine.textContent = `Project: ${where}${when}`;
    this._folderLine.title = `${this._folder || '/'}/.agent/agent.duckdb`;
  }

  private _renderSessions(rows: ISessionRow[]): void {
    const items = rows.map(row => {
      const item = element('li', 'jp-AgentPanel-item jp-AgentPanel-session');
      item.title = `${row.id}: %agent resume ${row.id}`;
      item.appendChild(element('div', 'jp-AgentPanel-itemText', row.title || '(untitled)'));
      const turns = `${row.turns} turn${row.turns === 1 ? '' : 's'}`;
      const meta = [row.notebook || 'no notebook', turns, ago(row.last_active)];
      item.appendChild(element('div', 'jp-AgentPanel-meta', meta.filter(Boolean).join(' · ')));
      return item;
    });
    this._fill(
      this._sessions,
      'Sessions',
      rows.length,
      items,
      'No agent sessions here yet. Run a %%agent cell in a notebook of this folder.'
    );
  }

  private _renderMemories(rows: IMemoryRow[]): void {
    const current = rows.filter(row => row.current);
    const past = rows.filter(row => !row.current);
    const items = current.map(row => this._memory(row));
    if (past.length) {
      const label = element(
        'li',
        'jp-AgentPanel-subhead',
        `Replaced or forgotten (${past.length})`
      );
      items.push(label, ...past.map(row => this._memory(row)));
    }
    this._fill(
      this._memories,
      'Memories',
      current.length,
      items,
      'No memories here yet. %agent remember TEXT adds one.'
    );
  }

  private _memory(row: IMemoryRow): HTMLElement {
    const item = element('li', 'jp-AgentPanel-item jp-AgentPanel-memory');
    item.dataset.current = String(row.current);
    item.title = row.id;
    item.appendChild(element('div', 'jp-AgentPanel-itemText', row.text));
    const meta = [row.kind, row.scope, `from ${row.source}`, row.trust, ago(row.created)];
    if (row.superseded) {
      meta.push(`replaced by ${row.superseded_by}`);
    }
    if (row.forgotten) {
      meta.push(`forgotten ${ago(row.forgotten)}`);
    }
    item.appendChild(element('div', 'jp-AgentPanel-meta', meta.filter(Boolean).join(' · ')));
    return item;
  }

  private _fill(
    section: HTMLElement,
    title: string,
    count: number,
    items: HTMLElement[],
    empty: string
  ): void {
    const heading = element('h3', 'jp-AgentPanel-heading', title);
    heading.appendChild(element('span', 'jp-AgentPanel-count', String(count)));
    const list = element('ul', 'jp-AgentPanel-list');
    list.append(...items);
    section.replaceChildren(
      heading,
      items.length ? list : element('p', 'jp-AgentPanel-empty', empty)
    );
  }

  private _fetch: RowFetcher;
  private _folder = '';
  private _requests = 0;
  private _stale = true;
  private _timer = 0;
  private _updated: Date | null = null;
  private _folderLine: HTMLElement;
  private _error: HTMLElement;
  private _sessions: HTMLElement;
  private _memories: HTMLElement;
}
