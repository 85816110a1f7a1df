import { nearestMeanClassifier } from './fake-plugins.js';
export default nearestMeanClassifier;
