export { modelLifecycle } from './lifecycle';
