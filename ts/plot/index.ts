// Dependency-free charts (SVG strings) for training reports.
export * from './svg';
