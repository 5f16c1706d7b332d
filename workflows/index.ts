export { modelLifecycle } from './lifecycle';
export { rollbackModel } from './rollback';
export { hyperparameterSearch, hyperparameterTrial } from './hyperparameter-search';
