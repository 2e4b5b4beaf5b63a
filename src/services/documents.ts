// The personal-data documents (152-FZ): the privacy policy and the three consent texts, each a versioned template
// in views/documents/<kind>/ (one file a version and language). A new version is a new file and a new line in
// CURRENT_DOCUMENTS. A document's text depends only on the configuration, so each language's text is rendered
// once and kept; its SHA-256 is what the consent log records as "the exact text shown".
import { createHash } from 'node:crypto';
import nunjucks from 'nunjucks';
import { formatDate, translator, type Language } from '../i18n/i18n.js';

export const DOCUMENT_KINDS = ['privacy', 'personal-data', 'marketing', 'analytics'] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];
export type ConsentKind = Exclude<DocumentKind, 'privacy'>;

/** `template` is the file under views/ without `.<lang>.njk`. */
export type DocumentVersion = { version: string; date: string; template: string };

export const CURRENT_DOCUMENTS: Readonly<Record<DocumentKind, DocumentVersion>> = {
  'privacy': { version: '1', date: '2026-12-04', template: 'documents/privacy/1' },
  'personal-data': { version: '1', date: '2026-12-04', template: 'documents/personal-data/1' },
  'marketing': { version: '1', date: '2026-12-04', template: 'documents/marketing/1' },
  'analytics': { version: '1', date: '2026-12-04', template: 'documents/analytics/1' },
};

/** The consents without which there is no account: a new version of one of these is asked for again. */
export const REQUIRED_CONSENTS: readonly ConsentKind[] = ['personal-data'];

export type Operator = { name: string; address: string; inn: string; email: string; example: boolean };
export type RenderedDocument = { kind: DocumentKind; version: string; date: string; language: Language; html: string; sha256: string };

export function createDocuments({ viewsDir, operator, current = CURRENT_DOCUMENTS }: {
  viewsDir: string; operator: Operator; current?: Readonly<Record<DocumentKind, DocumentVersion>>;
}) {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(viewsDir), { autoescape: true, throwOnUndefined: true });
  const rendered = new Map<string, RenderedDocument>();

  function render(kind: DocumentKind, language: Language): RenderedDocument {
    const key = `${kind} ${language}`;
    const kept = rendered.get(key);
    if (kept) return kept;
    const { version, date, template } = current[kind];
    const t = translator(language);
    const context = { kind, version, date: formatDate(date, language), operator, lang: language, t };
    const body = env.render(`${template}.${language}.njk`, context);
    const html = env.render('documents/article.njk', { ...context, body });
    const document = { kind, version, date, language, html, sha256: createHash('sha256').update(html, 'utf8').digest('hex') };
    rendered.set(key, document);
    return document;
  }

  return {
    render,
    /** The version of each required consent now in force, e.g. "personal-data:1": a change means asking again. */
    requiredKey: REQUIRED_CONSENTS.map((kind) => `${kind}:${current[kind].version}`).join(','),
    currentVersion: (kind: DocumentKind) => current[kind].version,
  };
}
export type Documents = ReturnType<typeof createDocuments>;
