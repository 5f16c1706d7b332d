/** The next-item kind's raw sources: the store's interaction events, and its item catalogue (a full export). */
import { CATALOGUE_SCHEMA, CatalogueRow, EVENT_SCHEMA, RawEventRow, REQUIRED_EVENT_COLUMNS, type CatalogueItem, type RawEvent } from '../../../schemas/events';
import type { SourceContract } from '../contract';

export const eventsSource: SourceContract<RawEvent> = {
  name: 'events',
  mode: 'events',
  row: RawEventRow,
  arrow: EVENT_SCHEMA,
  required: REQUIRED_EVENT_COLUMNS,
  requiredForTraining: true,
  personal: { user_id: 'identifier', session_id: 'identifier' },
  timeOf: (row) => row.timestamp,
  columns: (rows) => ({
    user_id: rows.map((r) => r.user_id),
    item_id: rows.map((r) => r.item_id),
    event_type: rows.map((r) => r.event_type),
    timestamp: rows.map((r) => r.timestamp),
    session_id: rows.map((r) => r.session_id),
    price: rows.map((r) => r.price),
    category: rows.map((r) => r.category),
  }),
};

export const catalogueSource: SourceContract<CatalogueItem> = {
  name: 'catalogue',
  mode: 'table',
  row: CatalogueRow,
  arrow: CATALOGUE_SCHEMA,
  required: ['item_id'],
  columns: (rows) => ({
    item_id: rows.map((r) => r.item_id),
    title: rows.map((r) => r.title),
    category: rows.map((r) => r.category),
    price: rows.map((r) => r.price),
  }),
};
