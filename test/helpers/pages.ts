// Page quality: every HTML page that the tests render is checked once at the end of the run — valid HTML
// (html-validate, recommended rules), no script, no inline style or handler, a visible label for every
// field, at most one sub-resource (the stylesheet), and HTML + CSS ≤ 14 KB gzip.
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { HtmlValidate } from 'html-validate';
import type { RequestHandler } from 'express';
import { findProjectRoot } from '../../src/config.js';

export type RenderedPage = { key: string; html: string };
const rendered = new Map<string, string>();

/** Express middleware for the test app: remembers the HTML of each page (method, path, status) it sends. */
export const collectPages: RequestHandler = (req, res, next) => {
  const send = res.send.bind(res);
  res.send = (body?: unknown) => {
    const type = String(res.get('Content-Type') ?? '');
    if (typeof body === 'string' && (type.includes('text/html') || (!type && /^<!doctype html>/i.test(body)))) {
      const key = `${req.method} ${req.path} ${res.statusCode}`;
      if (!rendered.has(key)) rendered.set(key, body);
    }
    return send(body);
  };
  next();
};

export function renderedPages(): RenderedPage[] {
  return [...rendered].map(([key, html]) => ({ key, html }));
}

const validator = new HtmlValidate({
  extends: ['html-validate:recommended'],
  rules: { 'no-trailing-whitespace': 'off' },
});
let css: Buffer | undefined;
const LIMIT = 14 * 1024;

export async function pageProblems(html: string, options: { budget?: number } = {}): Promise<string[]> {
  const problems: string[] = [];
  const report = await validator.validateString(html);
  for (const r of report.results) for (const m of r.messages) problems.push(`html: ${m.ruleId} at ${m.line}:${m.column}: ${m.message}`);
  if (/<script\b/i.test(html)) problems.push('has a <script> tag');
  if (/\sstyle\s*=/i.test(html)) problems.push('has an inline style attribute (CSP forbids it)');
  if (/\son[a-z]+\s*=/i.test(html)) problems.push('has an on* handler attribute');
  const subresources = html.match(/<link\b[^>]*rel="(?:stylesheet|icon|preload)"|<img\b|<iframe\b|<video\b|<audio\b|<object\b/gi) ?? [];
  if (subresources.length > 1) problems.push(`asks for ${subresources.length + 1} requests (limit 2)`);
  for (const [, tag, attrs] of html.matchAll(/<(input|select|textarea)\b([^>]*)>/gi)) {
    if (/type="(hidden|submit|button)"/.test(attrs!)) continue;
    const id = /\sid="([^"]+)"/.exec(attrs!)?.[1];
    if (!id || !html.includes(`for="${id}"`)) problems.push(`${tag} ${/name="([^"]+)"/.exec(attrs!)?.[1] ?? ''} has no <label for>`);
  }
  css ??= readFileSync(path.join(findProjectRoot(), 'public', 'css', 'site.css'));
  const weight = gzipSync(html).length + gzipSync(css).length;
  if (weight > (options.budget ?? LIMIT)) problems.push(`weighs ${weight} bytes gzip with CSS (limit ${options.budget ?? LIMIT})`);
  return problems;
}
