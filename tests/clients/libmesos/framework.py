# -*- coding: utf-8 -*-
"""Acceptance-test framework driven by the GENUINE libmesos scheduler driver.

Runs under the python2.7 built by setup.sh (ENV/bin/python2 or ENV/bin/framework).

  framework.py --master 127.0.0.1:5050 [--tasks 3] [--timeout 60]
  framework.py --master zk://127.0.0.1:2181/mesos ...
  framework.py --master ... --cmd 'sleep 30' --wait-for running --hold
  framework.py --master ... --framework-id ID --tasks 0 --adopt-task T ... --wait-for running
  framework.py --master ... --tasks 0 --reconcile-unknown T:AGENT [--no-partition-aware]

Registers a framework the way Marathon does (name, user, failover_timeout,
checkpoint, hostname, webui_url, role, capabilities PARTITION_AWARE,
REGION_AWARE, TASK_KILLING_STATE; explicit acknowledgements), launches N
small command tasks from the offers it gets (alternating the driver's
launchTasks() and acceptOffers() entry points), declines every other offer
with a refuse_seconds filter, acknowledges every status update, waits for all
tasks to reach TASK_FINISHED, then reconciles (explicitly, then implicitly),
waits for the reconciliation answers, and stops the driver (failover=False,
i.e. TEARDOWN).  It prints ONE line of JSON and exits 0 only when all tasks
finished.  It always ends: --timeout bounds the run, a watchdog kills the
process if the driver itself hangs.

Failover, as Marathon does it: a first instance launches long-running tasks
(--wait-for running), reconciles and then holds (--hold: prints its summary,
keeps the driver running and does not tear down) until it is killed or its
driver reports an error (a newer instance took over: "Framework failed
over"); a second instance is started with --framework-id of the first and
--adopt-task for each of its tasks, and succeeds when it is registered with
that id and the master reconciles every adopted task to the --wait-for state.
"""
from __future__ import print_function

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid

STATE_NAMES = {}
TERMINAL = ('TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR',
            'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR')


def parse_args(argv):
    p = argparse.ArgumentParser(description='libmesos acceptance-test framework')
    p.add_argument('--master', required=True, help='host:port or zk://host:port/path')
    p.add_argument('--tasks', type=int, default=3)
    p.add_argument('--cmd', default='echo ok && sleep 1')
    p.add_argument('--task-cpus', type=float, default=0.1)
    p.add_argument('--task-mem', type=float, default=32.0)
    p.add_argument('--timeout', type=float, default=60.0, help='overall deadline, seconds')
    p.add_argument('--name', default='libmesos-harness')
    p.add_argument('--user', default=os.environ.get('USER') or 'root')
    p.add_argument('--role', default='harness', help="FrameworkInfo.role ('' = none)")
    p.add_argument('--multi-role', action='store_true',
                   help='use FrameworkInfo.roles + MULTI_ROLE capability instead of .role')
    p.add_argument('--failover-timeout', type=float, default=604800.0,
                   help='seconds (Marathon default: one week)')
    p.add_argument('--no-checkpoint', action='store_true')
    p.add_argument('--hostname', default=None)
    p.add_argument('--webui-url', default='http://127.0.0.1:8080')
    p.add_argument('--principal', default=None)
    p.add_argument('--secret', default=None, help='with --principal: CRAM-MD5 credential')
    p.add_argument('--framework-id', default=None, help='re-register with this id')
    p.add_argument('--implicit-acks', action='store_true',
                   help='let the driver ack updates itself (Marathon uses explicit acks)')
    p.add_argument('--refuse-seconds', type=float, default=5.0)
    p.add_argument('--decline-extra', action='store_true', default=True,
                   help='decline offers that are not needed (default on)')
    p.add_argument('--max-tasks-per-offer', type=int, default=2,
                   help='spread tasks over several offers/launch calls (default 2)')
    p.add_argument('--launch-api', choices=('launchTasks', 'acceptOffers', 'both'), default='both')
    p.add_argument('--reconcile-wait', type=float, default=5.0)
    p.add_argument('--wait-for', choices=('finished', 'running'), default='finished',
                   help='the state every task must reach: TASK_FINISHED (default) or '
                        'TASK_RUNNING (long-running tasks, e.g. --cmd "sleep 30")')
    p.add_argument('--adopt-task', action='append', default=[], metavar='TASK_ID',
                   help='a task of a previous instance (with --framework-id): reconciled '
                        'explicitly, it must be in the --wait-for state (repeatable)')
    p.add_argument('--reconcile-unknown', action='append', default=[],
                   metavar='TASK_ID:AGENT_ID',
                   help='also reconcile explicitly a task the master never heard of, on '
                        'this agent id, as Marathon probes the master (repeatable)')
    p.add_argument('--no-partition-aware', action='store_true',
                   help='leave out the PARTITION_AWARE capability')
    p.add_argument('--hold', action='store_true',
                   help='after reconciling, print the summary and keep the driver running '
                        '(no teardown) until the driver reports an error, SIGTERM (then '
                        'it tears down) or SIGKILL, at most --timeout seconds; then print '
                        'a final summary')
    p.add_argument('--kill', action='store_true',
                   help='with --wait-for running: once every task runs, suppressOffers(), '
                        'killTask() each (TASK_KILLED is then the goal), check no offers come '
                        'while suppressed, then reviveOffers() and wait for an offer')
    p.add_argument('--abort', action='store_true',
                   help='end with driver.abort() (DeactivateFrameworkMessage) before '
                        'driver.stop(), as a scheduler giving up does')
    p.add_argument('--summary-file', default=None, help='also write the JSON summary here')
    p.add_argument('--quiet', action='store_true', help='no progress lines on stderr')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    # libprocess reads its settings at driver construction: keep everything on
    # loopback unless the caller says otherwise.
    os.environ.setdefault('LIBPROCESS_IP', '127.0.0.1')

    from mesos.interface import Scheduler, mesos_pb2
    from mesos.scheduler import MesosSchedulerDriver

    for name, num in mesos_pb2.TaskState.items():
        STATE_NAMES[num] = name

    t0 = time.time()
    run_id = uuid.uuid4().hex[:8]
    goal = 'TASK_RUNNING' if args.wait_for == 'running' else 'TASK_FINISHED'
    summary = {
        'registered': False, 'reregistered': False, 'framework_id': None, 'master': None,
        'offers_seen': 0, 'offers_used': 0, 'offers_declined': 0, 'offers_rescinded': 0,
        'tasks_requested': args.tasks, 'tasks_launched': 0, 'tasks_finished': 0,
        'task_states': {}, 'updates': 0, 'acks_sent': 0, 'reconcile_updates': 0,
        'disconnected': 0, 'errors': [], 'driver_status': None, 'ok': False,
        'wait_for': goal, 'tasks_running': 0, 'adopted_tasks': list(args.adopt_task),
        'reconciled_states': {}, 'implicit_states': {}, 'phase': 'running',
        'reconciled_agents': {}, 'reconciled_messages': {},
        'launched_with': {'launchTasks': 0, 'acceptOffers': 0},
        'killed': 0, 'killing_seen': 0, 'agents_lost': [],
        # Per task: how many TASK_FINISHED updates (not reconciliation
        # answers) arrived; every master it (re-)registered with.
        'finished_updates': {}, 'masters': [],
    }
    lock = threading.RLock()
    done = threading.Event()
    # Every launched task reached the goal state (or ended).
    all_finished = threading.Event()
    reconcile_state = {'phase': None, 'explicit_seen': set(), 'implicit_seen': set()}
    # The tasks --kill asked to kill.
    killing = set()

    def log(msg):
        if not args.quiet:
            sys.stderr.write('[framework %.2fs] %s\n' % (time.time() - t0, msg))
            sys.stderr.flush()

    def check_goal():
        """Call with the lock held: all tasks launched and each at the goal
        or terminal."""
        states = summary['task_states'].values()
        if summary['registered'] and summary['tasks_launched'] >= args.tasks and all(
                s == goal or s in TERMINAL for s in states):
            all_finished.set()

    def scalar(resources, name):
        return sum(r.scalar.value for r in resources if r.name == name and r.type == mesos_pb2.Value.SCALAR)

    def task_resources(offer, cpus, mem):
        """Take cpus/mem from the offer's own Resource objects (keeps role,
        reservations and allocation_info exactly as offered)."""
        out = []
        for name, want in (('cpus', cpus), ('mem', mem)):
            for r in offer.resources:
                if r.name == name and r.type == mesos_pb2.Value.SCALAR and r.scalar.value >= want:
                    nr = mesos_pb2.Resource()
                    nr.CopyFrom(r)
                    nr.scalar.value = want
                    out.append(nr)
                    break
            else:
                return None
        return out

    class HarnessScheduler(Scheduler):
        def __init__(self):
            self.launched = 0
            self.launch_calls = 0

        def registered(self, driver, framework_id, master_info):
            with lock:
                summary['registered'] = True
                summary['framework_id'] = framework_id.value
                summary['master'] = master_info.pid or '%s:%d' % (master_info.hostname, master_info.port)
                summary['masters'].append(summary['master'])
                check_goal()
            log('registered: framework_id=%s master=%s version=%s' % (
                framework_id.value, master_info.pid, master_info.version))

        def reregistered(self, driver, master_info):
            with lock:
                summary['reregistered'] = True
                summary['registered'] = True
                summary['masters'].append(
                    master_info.pid or '%s:%d' % (master_info.hostname, master_info.port))
                check_goal()
            log('reregistered with %s' % master_info.pid)

        def disconnected(self, driver):
            with lock:
                summary['disconnected'] += 1
            log('disconnected')

        def resourceOffers(self, driver, offers):
            with lock:
                summary['offers_seen'] += len(offers)
                for offer in offers:
                    need = min(args.tasks - self.launched, args.max_tasks_per_offer)
                    tasks = []
                    cpus, mem = scalar(offer.resources, 'cpus'), scalar(offer.resources, 'mem')
                    while need > 0 and cpus >= args.task_cpus and mem >= args.task_mem:
                        res = task_resources(offer, args.task_cpus, args.task_mem)
                        if res is None:
                            break
                        self.launched += 1
                        need -= 1
                        cpus -= args.task_cpus
                        mem -= args.task_mem
                        t = mesos_pb2.TaskInfo()
                        t.name = 'harness-task-%d' % self.launched
                        t.task_id.value = '%s.%s.%d' % (args.name, run_id, self.launched)
                        t.slave_id.CopyFrom(offer.slave_id)
                        t.command.shell = True
                        t.command.value = args.cmd
                        t.resources.extend(res)
                        tasks.append(t)
                    filters = mesos_pb2.Filters()
                    filters.refuse_seconds = args.refuse_seconds
                    if tasks:
                        summary['offers_used'] += 1
                        summary['tasks_launched'] += len(tasks)
                        for t in tasks:
                            summary['task_states'][t.task_id.value] = 'TASK_STAGING'
                        api = args.launch_api
                        if api == 'both':
                            api = 'launchTasks' if self.launch_calls % 2 == 0 else 'acceptOffers'
                        self.launch_calls += 1
                        summary['launched_with'][api] += 1
                        if api == 'launchTasks':
                            status = driver.launchTasks([offer.id], tasks, filters)
                        else:
                            op = mesos_pb2.Offer.Operation()
                            op.type = mesos_pb2.Offer.Operation.LAUNCH
                            op.launch.task_infos.extend(tasks)
                            status = driver.acceptOffers([offer.id], [op], filters)
                        log('offer %s: %s %d task(s) -> %s' % (
                            offer.id.value, api, len(tasks), status))
                    else:
                        summary['offers_declined'] += 1
                        status = driver.declineOffer(offer.id, filters)
                        log('offer %s: declined (refuse_seconds=%s) -> %s' % (
                            offer.id.value, args.refuse_seconds, status))

        def offerRescinded(self, driver, offer_id):
            with lock:
                summary['offers_rescinded'] += 1
            log('offer rescinded: %s' % offer_id.value)

        def statusUpdate(self, driver, status):
            state = STATE_NAMES.get(status.state, str(status.state))
            tid = status.task_id.value
            with lock:
                summary['updates'] += 1
                is_recon = status.reason == mesos_pb2.TaskStatus.REASON_RECONCILIATION
                if is_recon:
                    summary['reconcile_updates'] += 1
                    if reconcile_state['phase'] == 'explicit':
                        reconcile_state['explicit_seen'].add(tid)
                        summary['reconciled_states'][tid] = state
                        summary['reconciled_agents'][tid] = (
                            status.slave_id.value if status.HasField('slave_id') else None)
                        summary['reconciled_messages'][tid] = status.message
                    elif reconcile_state['phase'] == 'implicit':
                        reconcile_state['implicit_seen'].add(tid)
                        summary['implicit_states'][tid] = state
                if tid in summary['task_states'] and not is_recon and state == 'TASK_FINISHED':
                    summary['finished_updates'][tid] = summary['finished_updates'].get(tid, 0) + 1
                if tid in summary['task_states'] and not (
                        is_recon and summary['task_states'][tid] in TERMINAL):
                    summary['task_states'][tid] = state
                summary['tasks_finished'] = sum(
                    1 for s in summary['task_states'].values() if s == 'TASK_FINISHED')
                summary['tasks_running'] = sum(
                    1 for s in summary['task_states'].values() if s == 'TASK_RUNNING')
                if tid in killing and not is_recon:
                    if state == 'TASK_KILLING':
                        summary['killing_seen'] += 1
                    summary['killed'] = sum(
                        1 for t in killing if summary['task_states'].get(t) == 'TASK_KILLED')
                if tid in summary['task_states'] and not is_recon and state in TERMINAL \
                        and state != goal and not (tid in killing and state == 'TASK_KILLED'):
                    summary['errors'].append('task %s: %s (%s)' % (tid, state, status.message))
                log('update %s %s%s uuid=%s' % (
                    tid, state, ' (reconciliation)' if is_recon else '',
                    'yes' if status.HasField('uuid') else 'no'))
                if not args.implicit_acks and status.HasField('uuid') and status.HasField('slave_id'):
                    driver.acknowledgeStatusUpdate(status)
                    summary['acks_sent'] += 1
                check_goal()

        def frameworkMessage(self, driver, executor_id, slave_id, data):
            log('framework message from %s' % executor_id.value)

        def slaveLost(self, driver, slave_id):
            with lock:
                summary['agents_lost'].append(slave_id.value)
            log('agent lost: %s' % slave_id.value)

        def executorLost(self, driver, executor_id, slave_id, status):
            log('executor lost: %s' % executor_id.value)

        def error(self, driver, message):
            with lock:
                summary['errors'].append('error(): %s' % message)
                summary.setdefault('hold_ended_by', 'error')
            log('error: %s' % message)
            done.set()

    fw = mesos_pb2.FrameworkInfo()
    fw.user = args.user
    fw.name = args.name
    fw.failover_timeout = args.failover_timeout
    fw.checkpoint = not args.no_checkpoint
    fw.hostname = args.hostname or socket.gethostname()
    if args.webui_url:
        fw.webui_url = args.webui_url
    if args.principal:
        fw.principal = args.principal
    if args.framework_id:
        fw.id.value = args.framework_id
    Cap = mesos_pb2.FrameworkInfo.Capability
    caps = [Cap.TASK_KILLING_STATE, Cap.REGION_AWARE]
    if not args.no_partition_aware:
        caps.append(Cap.PARTITION_AWARE)
    if args.multi_role:
        caps.append(Cap.MULTI_ROLE)
        if args.role:
            fw.roles.append(args.role)
    elif args.role:
        fw.role = args.role
    for c in caps:
        fw.capabilities.add().type = c

    sched = HarnessScheduler()
    implicit = 1 if args.implicit_acks else 0
    if args.principal:
        cred = mesos_pb2.Credential()
        cred.principal = args.principal
        if args.secret:
            cred.secret = args.secret
        driver = MesosSchedulerDriver(sched, fw, args.master, implicit, cred)
    else:
        driver = MesosSchedulerDriver(sched, fw, args.master, implicit)

    deadline = t0 + args.timeout
    # Watchdog: if stop()/join() of the native driver ever hangs, still end.
    wd = threading.Timer(args.timeout + 20.0, lambda: (sys.stderr.write('watchdog: hard exit\n'),
                                                        os._exit(3)))
    wd.daemon = True
    wd.start()

    if args.hold:
        def on_sigterm(signum, frame):
            with lock:
                summary['hold_ended_by'] = 'SIGTERM'
            done.set()
        signal.signal(signal.SIGTERM, on_sigterm)

    status = driver.start()
    log('driver.start() -> %s' % status)

    def finish_summary():
        """Call with the lock held: the counters and the verdict."""
        summary['reconciled_explicit'] = len(reconcile_state['explicit_seen'])
        summary['reconciled_implicit'] = len(reconcile_state['implicit_seen'])
        summary['elapsed_s'] = round(time.time() - t0, 2)
        reached = summary['tasks_finished'] if goal == 'TASK_FINISHED' else summary['tasks_running']
        if args.kill:
            reached = summary['killed']
            if summary.get('offers_while_suppressed', 0) or not summary.get('offers_after_revive'):
                reached = -1
        adopted_ok = all(summary['reconciled_states'].get(t) == goal for t in args.adopt_task)
        adopted_ok = adopted_ok and all(
            p.partition(':')[0] in summary['reconciled_states'] for p in args.reconcile_unknown)
        summary['ok'] = bool(summary['registered'] and reached == args.tasks and adopted_ok
                             and not summary['errors'])

    def emit():
        with lock:
            finish_summary()
            line = json.dumps(summary, sort_keys=True)
        print(line)
        sys.stdout.flush()
        if args.summary_file:
            with open(args.summary_file, 'w') as f:
                f.write(line + '\n')

    held_ok = None
    try:
        while time.time() < deadline and not done.is_set() and not all_finished.is_set():
            time.sleep(0.1)
        if args.kill and all_finished.is_set() and not done.is_set():
            # As Marathon scales an app down: no offers wanted meanwhile.
            log('suppressOffers() -> %s' % driver.suppressOffers())
            with lock:
                summary['phase'] = 'killing'
                before = summary['offers_seen']
                killing.update(summary['task_states'].keys())
            for tid in sorted(killing):
                t = mesos_pb2.TaskID()
                t.value = tid
                log('killTask(%s) -> %s' % (tid, driver.killTask(t)))
            end = min(deadline, time.time() + 20.0)
            while time.time() < end and not done.is_set() and summary['killed'] < len(killing):
                time.sleep(0.05)
            # The killed tasks' resources are free: suppressed, we are not
            # offered them (two allocation intervals).
            time.sleep(2.0)
            with lock:
                summary['offers_while_suppressed'] = summary['offers_seen'] - before
                before = summary['offers_seen']
            log('reviveOffers() -> %s' % driver.reviveOffers())
            end = min(deadline, time.time() + 10.0)
            while time.time() < end and not done.is_set() and summary['offers_seen'] == before:
                time.sleep(0.05)
            with lock:
                summary['offers_after_revive'] = summary['offers_seen'] - before
        if all_finished.is_set() and not done.is_set():
            # Explicit reconciliation of the tasks we know (launched and
            # adopted), then implicit.
            with lock:
                statuses = []
                known = list(summary['task_states'].items()) + [
                    (t, 'TASK_STAGING') for t in args.adopt_task]
                for tid, st in known:
                    s = mesos_pb2.TaskStatus()
                    s.task_id.value = tid
                    s.state = mesos_pb2.TaskState.Value(st) if st in mesos_pb2.TaskState.keys() \
                        else mesos_pb2.TASK_STAGING
                    statuses.append(s)
                for probe in args.reconcile_unknown:
                    tid, _, agent = probe.partition(':')
                    s = mesos_pb2.TaskStatus()
                    s.task_id.value = tid
                    s.state = mesos_pb2.TASK_STAGING
                    if agent:
                        s.slave_id.value = agent
                    statuses.append(s)
                reconcile_state['phase'] = 'explicit'
            if statuses:
                log('reconcileTasks(explicit, %d tasks) -> %s' % (
                    len(statuses), driver.reconcileTasks(statuses)))
                end = min(deadline, time.time() + args.reconcile_wait)
                while time.time() < end and len(reconcile_state['explicit_seen']) < len(statuses):
                    time.sleep(0.05)
            with lock:
                # The implicit answer covers the tasks the master still has.
                expected = sum(1 for _, st in summary['reconciled_states'].items()
                               if st not in TERMINAL and st != 'TASK_UNKNOWN')
                reconcile_state['phase'] = 'implicit'
            log('reconcileTasks(implicit) -> %s' % driver.reconcileTasks([]))
            wait = min(args.reconcile_wait, 2.0) if expected else 0.5
            end = min(deadline, time.time() + wait)
            while time.time() < end and (
                    not expected or len(reconcile_state['implicit_seen']) < expected):
                time.sleep(0.05)
            if args.hold:
                # Alive and connected, as a scheduler is until it crashes
                # or a newer instance takes over.
                with lock:
                    summary['phase'] = 'holding'
                emit()
                with lock:
                    held_ok = summary['ok']
                wd.cancel()
                wd = threading.Timer(args.timeout + 20.0, lambda: (
                    sys.stderr.write('watchdog: hard exit\n'), os._exit(3)))
                wd.daemon = True
                wd.start()
                hold_end = time.time() + args.timeout
                while time.time() < hold_end and not done.is_set():
                    time.sleep(0.1)
                with lock:
                    summary['phase'] = 'ended'
                    summary.setdefault('hold_ended_by', 'timeout')
        elif not done.is_set():
            summary['errors'].append('timeout after %.0fs' % args.timeout)
    finally:
        if args.abort:
            log('driver.abort() -> %s' % driver.abort())
        st = driver.stop(False)
        log('driver.stop(failover=False) -> %s' % st)
        js = driver.join()
        log('driver.join() -> %s' % js)
        summary['driver_status'] = mesos_pb2.Status.Name(js) if js in mesos_pb2.Status.values() else js
        wd.cancel()

    emit()
    if held_ok is not None:
        return 0 if held_ok else 1
    return 0 if summary['ok'] else 1


if __name__ == '__main__':
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: the native driver's and the watchdog's threads need not
    # be torn down by the interpreter.
    os._exit(code)
