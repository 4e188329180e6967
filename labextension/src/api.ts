/**
 * The server extension's endpoints: a folder's sessions and memories from its `.agent/` store.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface ISessionRow {
  id: string;
  title: string;
  notebook: string;
  turns: number;
  last_active: string;
  user: string;
}

export interface IMemoryRow {
  id: string;
  scope: string;
  kind: string;
  text: string;
  source: string;
  trust: string;
  created: string;
  superseded_by: string | null;
  superseded: boolean;
  forgotten: string | null;
  current: boolean;
}

/** GET `/agent-kernel/<route>?path=<folder>`; a refusal throws with the server's message. */
export async function fetchRows<T>(
  route: 'sessions' | 'memories',
  folder: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T[]> {
  const url =
    URLExt.join(settings.baseUrl, 'agent-kernel', route) +
    URLExt.objectToQueryString({ path: folder });
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, {}, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const body = await response.text();
  let data: unknown = null;
  try {
    data = body ? JSON.parse(body) : null;
  } catch {
    // not JSON: a proxy's error page, or the server extension is not enabled
  }
  if (!response.ok) {
    const message =
      (data as { message?: string } | null)?.message ||
      (response.status === 404
        ? 'the agent-kernel server extension is not enabled in this Jupyter Server'
        : `${response.status} ${response.statusText}`);
    throw new Error(message);
  }
  return Array.isArray(data) ? (data as T[]) : [];
}
