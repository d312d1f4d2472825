export { PrometheusMetrics, type PrometheusOptions } from './prometheus.js';
export { instrumentRouter, metricsHandler, routeLabel } from './http.js';
