//go:build cluster

package cluster

// The workloads of the test, as users would write them, except that every pod uses the
// node's network (hostNetwork) and listens on a loopback port: the node has no pod network.
// Images are the ones make images builds, never pulled.

// podSecurity is the restricted security context every container here runs with.
const podSecurity = `
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        seccompProfile: {type: RuntimeDefault}`

const containerSecurity = `
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}`

const emulatorManifest = `
apiVersion: v1
kind: Namespace
metadata: {name: {{.EmuNS}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: okta-emulator, namespace: {{.EmuNS}}}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: okta-emulator}}
  template:
    metadata: {labels: {app: okta-emulator}}
    spec:
      hostNetwork: true
      automountServiceAccountToken: false` + podSecurity + `
      containers:
      - name: okta-emulator
        image: clientcreds/okta-emulator:dev
        imagePullPolicy: Never
        # Short-lived tokens: consumers fetch a new one every minute, so a retired secret
        # that a pod still holds would show as failed requests.
        args: [--addr=127.0.0.1:{{.EmulatorPort}}, --scopes=hello:read, --token-lifetime=2m]
        env:
        - name: OKTA_EMULATOR_API_TOKEN
          valueFrom: {secretKeyRef: {name: okta-api-token, key: token}}
        ports: [{name: http, containerPort: {{.EmulatorPort}}}]
        readinessProbe:
          httpGet: {path: /_emulator/healthz, port: http, host: 127.0.0.1}
          periodSeconds: 2` + containerSecurity + `
`

const providerManifest = `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: ClusterOAuthProvider
metadata: {name: okta}
spec:
  okta:
    orgURL: http://127.0.0.1:{{.EmulatorPort}}
    authorizationServerID: default
    apiTokenSecretRef: {name: okta-api-token, namespace: {{.SystemNS}}, key: token}
`

const helloManifest = `
apiVersion: v1
kind: Namespace
metadata: {name: {{.AppsNS}}}
---
# hello behind the verifier as a reverse-proxy sidecar.
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello-protected, namespace: {{.AppsNS}}}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: hello-protected}}
  template:
    metadata: {labels: {app: hello-protected}}
    spec:
      hostNetwork: true
      automountServiceAccountToken: false` + podSecurity + `
      containers:
      - name: verifier
        image: clientcreds/verifier:dev
        imagePullPolicy: Never
        args:
        - --issuer=http://127.0.0.1:{{.EmulatorPort}}/oauth2/default
        - --allow-insecure-issuer
        - --audience={{.Audience}}
        - --required-scopes=hello:read
        - --listen=127.0.0.1:{{.ProxyPort}}
        - --upstream=http://127.0.0.1:{{.HelloPort}}
        - --admin-listen=127.0.0.1:{{.ProxyAdminPort}}
        ports: [{name: http, containerPort: {{.ProxyPort}}}, {name: admin, containerPort: {{.ProxyAdminPort}}}]
        readinessProbe:
          httpGet: {path: /readyz, port: admin, host: 127.0.0.1}
          periodSeconds: 2
        livenessProbe:
          httpGet: {path: /healthz, port: admin, host: 127.0.0.1}` + containerSecurity + `
      - name: hello
        image: clientcreds/hello:dev
        imagePullPolicy: Never
        args: [--listen=127.0.0.1:{{.HelloPort}}]
        ports: [{name: hello, containerPort: {{.HelloPort}}}]
        readinessProbe:
          httpGet: {path: /healthz, port: hello, host: 127.0.0.1}
          periodSeconds: 2` + containerSecurity + `
---
# The verifier as a forward-auth service (/verify), as ingress-nginx or Traefik call it.
apiVersion: apps/v1
kind: Deployment
metadata: {name: verifier-forward-auth, namespace: {{.AppsNS}}}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: verifier-forward-auth}}
  template:
    metadata: {labels: {app: verifier-forward-auth}}
    spec:
      hostNetwork: true
      automountServiceAccountToken: false` + podSecurity + `
      containers:
      - name: verifier
        image: clientcreds/verifier:dev
        imagePullPolicy: Never
        args:
        - --issuer=http://127.0.0.1:{{.EmulatorPort}}/oauth2/default
        - --allow-insecure-issuer
        - --audience={{.Audience}}
        - --required-scopes=hello:read
        - --listen=127.0.0.1:{{.ForwardAuthPort}}
        - --admin-listen=127.0.0.1:{{.ForwardAdminPort}}
        ports: [{name: http, containerPort: {{.ForwardAuthPort}}}, {name: admin, containerPort: {{.ForwardAdminPort}}}]
        readinessProbe:
          httpGet: {path: /readyz, port: admin, host: 127.0.0.1}
          periodSeconds: 2` + containerSecurity + `
`

const clientsManifest = `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: injected, namespace: {{.AppsNS}}}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: okta}
  scopes: [hello:read]
---
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: sdk, namespace: {{.AppsNS}}}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: okta}
  scopes: [hello:read]
  # nudgePods makes kubelet deliver each new Secret within about a second, which is
  # measured against kubelet's own delay (up to ~85 s): the injected client keeps the
  # default. Neither needs it to ride through a restore: the deleted Secret's value keeps
  # working for controllers.RestoreGracePeriod.
  secretTemplate: {nudgePods: true}
---
# A client whose app sends plain requests to the token-injector sidecar, which adds the
# bearer token obtained with the mounted Secret. The pods share the node's loopback, so the
# test itself plays the app (the main container only holds the pod open).
apiVersion: apps/v1
kind: Deployment
metadata: {name: client-injected, namespace: {{.AppsNS}}}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: client-injected}}
  template:
    metadata: {labels: {app: client-injected}}
    spec:
      hostNetwork: true
      automountServiceAccountToken: false` + podSecurity + `
      initContainers:
      - name: token-injector
        image: clientcreds/token-injector:dev
        imagePullPolicy: Never
        restartPolicy: Always
        args:
        - --listen=127.0.0.1:{{.InjectorPort}}
        - --admin-listen=127.0.0.1:{{.InjectorAdminPort}}
        - --upstream=http://127.0.0.1:{{.ProxyPort}}
        - --credentials-dir=/var/run/secrets/oauth
        ports: [{name: http, containerPort: {{.InjectorPort}}}, {name: admin, containerPort: {{.InjectorAdminPort}}}]
        startupProbe:
          httpGet: {path: /readyz, port: admin, host: 127.0.0.1}
          periodSeconds: 1
          failureThreshold: 60
        readinessProbe:
          httpGet: {path: /readyz, port: admin, host: 127.0.0.1}
          periodSeconds: 5
        volumeMounts: [{name: oauth-client, mountPath: /var/run/secrets/oauth, readOnly: true}]` + containerSecurity + `
      containers:
      - name: app
        image: clientcreds/pause:dev
        imagePullPolicy: Never` + containerSecurity + `
      volumes:
      - name: oauth-client
        secret: {secretName: injected-oauth-client}
---
# A client using pkg/credentials (examples/hello-client), calling the forward-auth verifier.
apiVersion: apps/v1
kind: Deployment
metadata: {name: client-sdk, namespace: {{.AppsNS}}}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: client-sdk}}
  template:
    metadata: {labels: {app: client-sdk}}
    spec:
      hostNetwork: true
      automountServiceAccountToken: false` + podSecurity + `
      containers:
      - name: hello-client
        image: clientcreds/hello-client:dev
        imagePullPolicy: Never
        args:
        - --credentials-dir=/var/run/secrets/oauth
        - --url=http://127.0.0.1:{{.ForwardAuthPort}}/verify
        - --interval=1s
        volumeMounts: [{name: oauth-client, mountPath: /var/run/secrets/oauth, readOnly: true}]` + containerSecurity + `
      volumes:
      - name: oauth-client
        secret: {secretName: sdk-oauth-client}
`

// consumersManifest: an OAuthClient rotated every 30 s whose Secret is read through env by a
// Deployment of 2 replicas (restarted on each rotation, spec.rotation.restart) and mounted by
// a pkg/credentials client (nudged, spec.secretTemplate.nudgePods); both call hello through
// the verifier sidecar, the env one every 100 ms.
const consumersManifest = `
apiVersion: oauth.clientcreds.dev/v1alpha1
kind: OAuthClient
metadata: {name: rolling, namespace: {{.AppsNS}}}
spec:
  providerRef: {kind: ClusterOAuthProvider, name: okta}
  scopes: [hello:read]
  secretTemplate: {nudgePods: true}
  rotation:
    interval: 30s
    gracePeriod: 3s
    maxGracePeriod: 25s
    restart: [{kind: Deployment, name: client-env}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client-env, namespace: {{.AppsNS}}}
spec:
  replicas: 2
  selector: {matchLabels: {app: client-env}}
  template:
    metadata: {labels: {app: client-env}}
    spec:
      hostNetwork: true
      automountServiceAccountToken: false` + podSecurity + `
      containers:
      - name: hello-client
        image: clientcreds/hello-client:dev
        imagePullPolicy: Never
        args: [--credentials-from-env, --url=http://127.0.0.1:{{.ProxyPort}}/, --interval=100ms]
        envFrom: [{secretRef: {name: rolling-oauth-client}}]` + containerSecurity + `
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client-files, namespace: {{.AppsNS}}}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: client-files}}
  template:
    metadata: {labels: {app: client-files}}
    spec:
      hostNetwork: true
      automountServiceAccountToken: false` + podSecurity + `
      containers:
      - name: hello-client
        image: clientcreds/hello-client:dev
        imagePullPolicy: Never
        args: [--credentials-dir=/var/run/secrets/oauth, --url=http://127.0.0.1:{{.ProxyPort}}/, --interval=1s]
        volumeMounts: [{name: oauth-client, mountPath: /var/run/secrets/oauth, readOnly: true}]` + containerSecurity + `
      volumes:
      - name: oauth-client
        secret: {secretName: rolling-oauth-client}
`
