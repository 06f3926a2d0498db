export * from './decider';
export * from './ports';
