// Exports an object that lacks `generate`, to test the loader's shape check.
export default () => ({ kind: 'generator', name: 'test:broken', version: '1.0.0', optionsSchema: {}, train: async () => {} });
