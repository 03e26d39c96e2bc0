/**
 * Inbound classification: the Request-URI user → a registration trunk (the registrar sends
 * calls to the Contact we registered) when the request comes from that trunk's registrar or
 * its own CIDRs, else source IP → trunk (longest CIDR match); then called number → route (most
 * specific pattern; ties go to the earlier route). Treated as an unknown source (403 or
 * silence, as the trunk says): a trunk's source calling over a transport the trunk does not
 * take (`inbound.transports`, e.g. TLS only); a request to a registration's Contact from
 * anywhere else; and, when the TLS listener requires client certificates, a request over TLS
 * whose certificate names none of the trunk's names (config/tls-clients.ts).
 */
import {
  clientCertificateNames,
  compileNumberPattern,
  matchesNumber,
  type NumberPattern,
  type PatchbayConfig,
  patternSpecificity,
  type RouteConfig,
  requiresClientCert,
  type TrunkConfig,
} from '../config/index.js';
import { CidrTable, sameAddress } from './cidr.js';
import { inboundE164 } from './numbers.js';
import { registrationContactUser } from './registration-contact.js';

export type InboundDecision =
  | { ok: true; trunk: TrunkConfig; route: RouteConfig; routeIndex: number }
  /**
   * Answer `403` or `drop` silently; the action comes from the trunk that owns the number, else
   * drop (or from the trunk whose source used a transport it does not take, said in `detail`).
   */
  | { ok: false; reason: 'unknown_source'; action: 403 | 'drop'; detail?: string }
  | { ok: false; reason: 'number_not_allowed' | 'no_route'; trunk: TrunkConfig; status: 403 | 404 };

/** Where a request came from, as the transport says (`TransportAddress`). */
export interface InboundSource {
  address: string;
  transport: string;
  /** Over TLS, the names of the peer's verified certificate. */
  peerNames?: readonly string[];
}

export interface InboundMatcherOptions {
  /**
   * The TLS listener asks clients for a certificate; default what `config` says. The gateway
   * passes the listener's setting as started (it applies at start, not on reload).
   */
  requireClientCert?: boolean;
  /** The addresses a registration trunk's registrar answered its live binding from (registrations.ts). */
  registrarAddresses?(trunk: string): readonly string[];
}

interface CompiledRoute {
  route: RouteConfig;
  index: number;
  pattern: NumberPattern;
}

function compile(source: string): NumberPattern {
  const pattern = compileNumberPattern(source);
  // Config validation rejects invalid patterns, so this only fires on unvalidated input.
  if (typeof pattern === 'string') throw new RangeError(`${source}: ${pattern}`);
  return pattern;
}

function bestMatch<T extends { pattern: NumberPattern }>(items: readonly T[], number: string): T | undefined {
  let best: T | undefined;
  for (const item of items) {
    if (!matchesNumber(item.pattern, number)) continue;
    if (!best || patternSpecificity(item.pattern) > patternSpecificity(best.pattern)) best = item;
  }
  return best;
}

function takes(trunk: TrunkConfig, transport: string): boolean {
  return trunk.inbound?.transports.some((allowed) => allowed === transport) ?? false;
}

/** Built once per config snapshot; lookups allocate nothing but the result. */
export class InboundMatcher {
  readonly #sources = new CidrTable<TrunkConfig>();
  readonly #trunkNumbers = new Map<string, NumberPattern[]>();
  readonly #numberOwners: Array<{ pattern: NumberPattern; trunk: TrunkConfig }> = [];
  readonly #routes: CompiledRoute[];
  /** Registration trunks by the user part of the Contact they register. */
  readonly #registrations = new Map<string, TrunkConfig>();
  /** A registration trunk's own CIDRs (`inbound.allowedCidrs`): proxies besides its registrar. */
  readonly #registrationCidrs = new Map<string, CidrTable<true>>();
  /** The names each trunk's TLS client certificate may carry, when the listener requires one. */
  readonly #clientNames = new Map<string, ReadonlySet<string>>();
  readonly #requireClientCert: boolean;
  readonly #registrarAddresses: (trunk: string) => readonly string[];

  constructor(config: PatchbayConfig, options: InboundMatcherOptions = {}) {
    this.#requireClientCert = options.requireClientCert ?? requiresClientCert(config.gateway);
    this.#registrarAddresses = options.registrarAddresses ?? (() => []);
    for (const trunk of config.trunks.values()) {
      if (this.#requireClientCert) this.#clientNames.set(trunk.name, new Set(clientCertificateNames(trunk)));
      const register = trunk.outbound?.register;
      if (register) {
        this.#registrations.set(registrationContactUser(trunk.name, register), trunk);
        const own = new CidrTable<true>();
        for (const cidr of trunk.inbound?.allowedCidrs ?? []) own.add(cidr, true);
        this.#registrationCidrs.set(trunk.name, own);
      }
      if (!trunk.inbound) continue;
      for (const cidr of trunk.inbound.allowedCidrs) this.#sources.add(cidr, trunk);
      const patterns = trunk.inbound.numbers.map(compile);
      this.#trunkNumbers.set(trunk.name, patterns);
      for (const pattern of patterns) this.#numberOwners.push({ pattern, trunk });
    }
    this.#routes = config.gateway.routes.map((route, index) => ({
      route,
      index,
      pattern: compile(route.match),
    }));
  }

  /**
   * Whether anything from `sourceAddress` over `transport` could be answered, before any
   * request is read (a TCP or TLS connection at accept): a trunk's source over a transport it
   * takes, a registrar of a registration trunk (its calls may come over a connection of its
   * own), or a source some trunk would answer 403.
   */
  admitsSource(sourceAddress: string, transport: string): boolean {
    for (const trunk of this.#registrations.values())
      if (this.#fromRegistrar(trunk, sourceAddress)) return true;
    const trunk = this.#sources.lookup(sourceAddress)?.value;
    if (trunk) return takes(trunk, transport) || trunk.inbound?.unknownSourceAction === 403;
    return this.#numberOwners.some(({ trunk: owner }) => owner.inbound?.unknownSourceAction === 403);
  }

  /**
   * The number an INVITE calls: its Request-URI user, but on a registration, whose
   * Request-URI the registrar rewrote to our Contact (RFC 3261 §10.3, §16.5), the To user:
   * the address-of-record or number the caller dialled.
   */
  calledNumber(requestUser: string | undefined, toUser: string | undefined): string {
    if (requestUser !== undefined && this.#registrations.has(requestUser)) return toUser ?? requestUser;
    return requestUser ?? toUser ?? '';
  }

  /**
   * The called number (see calledNumber) and the caller's of an INVITE from `sourceAddress`, in
   * E.164 when the trunk it comes from (by registered Contact, else by source) sets
   * `inboundCountry`; as sent otherwise, or when a number is no number of that country.
   */
  numbersOf(
    sourceAddress: string,
    requestUser: string | undefined,
    toUser: string | undefined,
    fromUser: string,
  ): { called: string; caller: string } {
    const called = this.calledNumber(requestUser, toUser);
    const country = this.#claimedTrunk(sourceAddress, requestUser)?.inboundCountry;
    if (country === undefined) return { called, caller: fromUser };
    return {
      called: inboundE164(called, country) ?? called,
      caller: inboundE164(fromUser, country) ?? fromUser,
    };
  }

  /**
   * The trunk and route of a request to `requestUser` calling `calledNumber`. A Request-URI
   * naming a registration's Contact is that trunk's call over any transport (it reaches us as
   * our Contact says), but only from its registrar or its own CIDRs: the Contact user travels
   * in clear in REGISTER over UDP and TCP, so knowing it proves nothing. Anything else is
   * matched by source address and the trunk's transports.
   */
  match(source: InboundSource, calledNumber: string, requestUser = calledNumber): InboundDecision {
    const registered = this.#registrations.get(requestUser);
    if (registered && !this.#fromRegistration(registered, source.address))
      return this.#unknownSource(calledNumber, registered, `not trunk ${registered.name}'s registrar`);
    const trunk = this.#claimedTrunk(source.address, requestUser);
    if (!trunk) return this.#unknownSource(calledNumber);
    if (!registered && !takes(trunk, source.transport)) {
      const detail = `trunk ${trunk.name} takes ${trunk.inbound?.transports.join(', ')}, not ${source.transport}`;
      return this.#unknownSource(calledNumber, trunk, detail);
    }
    if (source.transport === 'tls' && !this.#certifies(trunk, source.peerNames))
      return this.#unknownSource(
        calledNumber,
        trunk,
        `the TLS client certificate names none of trunk ${trunk.name}'s hosts`,
      );
    const allowed = this.#trunkNumbers.get(trunk.name) ?? [];
    if (allowed.length > 0 && !allowed.some((p) => matchesNumber(p, calledNumber))) {
      return { ok: false, reason: 'number_not_allowed', trunk, status: 403 };
    }
    const candidates = this.#routes.filter(
      (r) => r.route.trunk === undefined || r.route.trunk === trunk.name,
    );
    const route = bestMatch(candidates, calledNumber);
    if (!route) return { ok: false, reason: 'no_route', trunk, status: 404 };
    return { ok: true, trunk, route: route.route, routeIndex: route.index };
  }

  /** The trunk a request is for: the registration whose Contact it calls, else its source's. */
  #claimedTrunk(sourceAddress: string, requestUser: string | undefined): TrunkConfig | undefined {
    const registered = requestUser === undefined ? undefined : this.#registrations.get(requestUser);
    return registered ?? this.#sources.lookup(sourceAddress)?.value;
  }

  /**
   * Refused as an unknown source: with the action of the trunk it passed for, else of the
   * trunk that owns the number, else dropped.
   */
  #unknownSource(calledNumber: string, trunk?: TrunkConfig, detail?: string): InboundDecision {
    const action =
      trunk?.inbound?.unknownSourceAction ??
      bestMatch(this.#numberOwners, calledNumber)?.trunk.inbound?.unknownSourceAction ??
      'drop';
    return { ok: false, reason: 'unknown_source', action, ...(detail ? { detail } : {}) };
  }

  #fromRegistrar(trunk: TrunkConfig, address: string): boolean {
    return this.#registrarAddresses(trunk.name).some((registrar) => sameAddress(registrar, address));
  }

  #fromRegistration(trunk: TrunkConfig, address: string): boolean {
    return this.#fromRegistrar(trunk, address) || !!this.#registrationCidrs.get(trunk.name)?.lookup(address);
  }

  /** Without mutual TLS every peer passes; with it, its verified certificate must name the trunk. */
  #certifies(trunk: TrunkConfig, peerNames: readonly string[] | undefined): boolean {
    if (!this.#requireClientCert) return true;
    const names = this.#clientNames.get(trunk.name);
    return !!names && !!peerNames?.some((name) => names.has(name));
  }
}
