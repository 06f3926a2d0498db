export * from './projector';
export * from './projector-metrics';
export * from './projector-thread';
