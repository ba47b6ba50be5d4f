import { App } from 'aws-cdk-lib';
import { InfraConfigError } from './config';
import { createTradingStacks, FEATURE_FLAGS } from './stacks';

// Asset paths in the template metadata let the local deployers find each function's bundle in cdk.out.
const app = new App({ postCliContext: { ...FEATURE_FLAGS, 'aws:cdk:enable-asset-metadata': true } });
try {
  createTradingStacks(app);
} catch (error) {
  if (error instanceof InfraConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
app.synth();
