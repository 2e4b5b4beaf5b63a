// GET /privacy and GET /consent/<kind>: the current version of a document, with the operator's details. The same
// bytes for everyone of a language, so a visitor's copy comes from the page cache.
import type { Request, Response } from 'express';
import type { DocumentKind, Documents } from '../services/documents.js';

export function createDocumentsController({ documents }: { documents: Documents }) {
  const show = (kind: DocumentKind) => (_req: Request, res: Response) => {
    res.render('documents/show', { document: documents.render(kind, res.locals.lang) });
  };
  return {
    privacy: show('privacy'),
    personalData: show('personal-data'),
    marketing: show('marketing'),
    analytics: show('analytics'),
  };
}
