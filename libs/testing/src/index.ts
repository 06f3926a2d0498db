export * from './decider';
export * from './ports';
export * from './log-capture';
