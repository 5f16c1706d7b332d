/** Rows that failed validation, with the reason, kept in S3 (`quarantine/<dataset>/`) instead of dropped. */
import { Field, Int32, Schema, Utf8 } from 'apache-arrow';

export const QUARANTINE_SCHEMA = new Schema([
  new Field('file', new Utf8(), false),
  new Field('row', new Int32(), false),
  new Field('field', new Utf8(), false),
  new Field('message', new Utf8(), false),
  new Field('raw', new Utf8(), false),
]);
