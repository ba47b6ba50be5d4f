export { startEdge, DEFAULT_EDGE_PORT, NO_DOCKER_IMAGES } from './server';
export type { Edge, StartEdgeOptions, ProxiedService } from './server';
export { EDGE_SERVICES, routeRequest } from './routing';
export type { EdgeService, RouteDecision } from './routing';
