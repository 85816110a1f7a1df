import { meanGenerator } from './fake-plugins.js';
export default meanGenerator;
