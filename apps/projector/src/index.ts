export * from './projector';
export * from './projector-metrics';
