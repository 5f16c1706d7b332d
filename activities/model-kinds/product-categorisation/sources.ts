/** The product-categorisation kind's raw source: merchants' offers, labelled by category managers or not. */
import { OFFER_SCHEMA, OfferRow, REQUIRED_OFFER_COLUMNS, type Offer } from './rows';
import type { SourceContract } from '../contract';

export const offersSource: SourceContract<Offer> = {
  name: 'offers',
  mode: 'events',
  row: OfferRow,
  arrow: OFFER_SCHEMA,
  required: REQUIRED_OFFER_COLUMNS,
  requiredForTraining: true,
  timeOf: (row) => row.timestamp ?? 0,
  columns: (rows) => Object.fromEntries(OFFER_SCHEMA.fields.map((f) => [f.name, rows.map((r) => r[f.name as keyof Offer])])),
};
