/**
 * `kubemux/testing`: a Kubernetes port-forward peer that needs no cluster. The fake cluster
 * serves enough of the Kubernetes API for kubectl and kubemux to resolve pods, deployments and
 * services, and a kubelet/runtime-compatible port-forward endpoint (SPDY/3.1, SPDY tunnelled in
 * WebSocket, WebSocket v4 channels) with fault injection.
 */
export {
  FakeCluster,
  FAKE_CLUSTER_DEFAULTS,
  FAULT_ACTIONS,
  type FakeClusterOptions,
  type ClusterStats,
  type FaultAction,
  type FakeClusterKubeconfigOptions,
} from './server/fake-cluster.js';
export {
  defaultClusterConfig,
  loadClusterConfig,
  validateClusterConfig,
  parseHostPort,
  POD_PHASES,
  type PodPhase,
  type ClusterConfig,
  type NamespaceConfig,
  type PodConfig,
  type ContainerConfig,
  type ContainerPortConfig,
  type ServiceConfig,
  type ServicePortConfig,
  type DeploymentConfig,
} from './server/cluster-config.js';
export { kubeconfigFor, type KubeconfigOptions } from './server/kubeconfig.js';
export { generateCertificates, type CertificateOptions, type GeneratedCertificates } from './server/certificates.js';
export {
  PortForwardEndpoint,
  ENDPOINT_DEFAULTS,
  ENDPOINT_FAULTS,
  MAX_FAULT_DELAY_MS,
  type PortForwardEndpointOptions,
  type EndpointFault,
  type EndpointFaultParams,
  type EndpointStats,
  type PodTarget,
  type DialFunction,
} from './server/portforward/endpoint.js';
