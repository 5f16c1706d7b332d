export { modelLifecycle } from './lifecycle';
export { rollbackModel } from './rollback';
