/**
 * The code highlighter traces use: JupyterLab's own CodeMirror languages, handed over by the
 * main plugin when it starts (a MIME extension cannot ask for services itself).
 */

import type { Highlighter } from './traceView';

let current: Highlighter | null = null;

export function setHighlighter(highlighter: Highlighter | null): void {
  current = highlighter;
}

export function getHighlighter(): Highlighter | null {
  return current;
}
